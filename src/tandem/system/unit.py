"""The text of the files `tandem install` writes for the service manager and logrotate.

tandemd runs as a `Type=notify` service: READY once the node has joined the cell or waits
for its peers, a watchdog fed from the engine's loop (a stuck loop is killed and restarted,
and meanwhile the peers stop hearing it and fence the node). KillMode=mixed: SIGTERM goes
to tandemd alone, which stops its services before it leaves; whatever is left of them is
killed after it.
"""

from __future__ import annotations

UNIT_NAME = "tandemd.service"
WATCHDOG_S = 10
STOP_TIMEOUT_S = 180  # services stop in order, each with its own stop timeout


def unit_text(tandemd: str) -> str:
    """tandemd.service, starting the tandemd at path `tandemd`."""
    return f"""# Installed by `tandem install`; local changes belong in a drop-in
# (systemctl edit tandemd), since a new `tandem install` rewrites this file.
[Unit]
Description=tandem high-availability node daemon
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
EnvironmentFile=-/etc/default/tandemd
ExecStart={tandemd} $TANDEMD_OPTS
ExecReload=/bin/kill -HUP $MAINPID
KillMode=mixed
TimeoutStopSec={STOP_TIMEOUT_S}
WatchdogSec={WATCHDOG_S}
Restart=on-failure
RestartSec=2
LimitMEMLOCK=infinity
LimitRTPRIO=99

[Install]
WantedBy=multi-user.target
"""


DEFAULTS_TEXT = """# Options for tandemd (read by tandemd.service).
# --config FILE          the cell file (default /etc/tandem/cluster.toml)
# --log-file FILE        also log there (default /var/log/tandem/tandemd.log; the manual's
#                        clusters used /var/log/ha.log)
# --syslog FACILITY      syslog facility (default daemon when /dev/log exists; none: off)
# --syslog-ident NAME    syslog identifier (default tandemd)
TANDEMD_OPTS=""
"""


def logrotate_text(log_dir: str = "/var/log/tandem") -> str:
    """Weekly rotation of tandemd's log files; SIGHUP makes tandemd reopen them (it also
    notices a moved file by itself)."""
    return f"""# Installed by `tandem install`.
{log_dir}/*.log /var/log/ha.log {{
    weekly
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    postrotate
        systemctl kill --kill-who=main --signal=HUP tandemd.service >/dev/null 2>&1 || true
    endscript
}}
"""
