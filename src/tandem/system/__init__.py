"""What tandem lays out on a server (`tandem install`): the systemd unit, the logrotate
snippet, the /etc/HA/bin links and commented default /etc/HA data files."""
