"""Monitoring: what a site's monitoring system reads from a cell, each in a process of
its own that only reads the daemon's control socket, so a monitoring problem can never
touch the engine.

- `exporter`, `metrics`: the Prometheus exporter (`tandem exporter`) and the pure
  translation of the status and timeline into metric families.
- the Nagios-style check (`tandem check`) and the status page.
"""
