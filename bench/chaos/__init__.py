"""Shared code of the reliability campaign, the scale benchmark and the stress run:
cells made for them, the record service and its client, fault injection, the checks
that run all along, and the figures they print."""
