"""The kinds of event on the engine's timeline (`tandem events`, the events file).

Values are the strings written to the events file and sent by `tandem events --json`:
changing one breaks every reader of old timelines, so a kind is only ever added.
A StrEnum compares equal to its string, so readers may compare either.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class EventKind(enum.StrEnum):
    """One kind of timeline entry; the comment says when it is added."""

    # -- the daemon itself
    DAEMON_START = "daemon_start"      # tandemd started (incarnation, config version)
    DAEMON_STOP = "daemon_stop"        # tandemd left the cell cleanly
    PAUSED = "paused"                  # tandemd was not scheduled for longer than allowed
    # -- membership and quorum
    NODE = "node"                      # a node changed membership state ("old -> new")
    RING = "ring"                      # a heartbeat ring changed health (up, down, ...)
    QUORUM = "quorum"                  # this node gained or lost quorum
    COORDINATOR = "coordinator"        # another node (or none) coordinates the cell
    UNBLOCK = "unblock"                # an operator lifted wait-for-all on this node
    # -- fencing
    FENCE_START = "fence_start"        # this node started fencing a node
    FENCE_DONE = "fence_done"          # a fence succeeded: the node's power reads off
    FENCE_FAILED = "fence_failed"      # a fence attempt failed; it is retried later
    FENCE_ACK = "fence_ack"            # an operator confirmed a node is off
    FENCE_DEFERRED = "fence_deferred"  # a lost node still stops services on the qdisk
    FENCE_DEVICE_OK = "fence_device_ok"          # a fence device answers again
    FENCE_DEVICE_FAILED = "fence_device_failed"  # a fence device stopped answering
    # -- services, as the cell shows them
    SERVICE = "service"                # a service's cell-wide state or owner changed
    REQUEST = "request"                # an operator asked to enable, relocate, ... one
    # -- services, as this node runs them
    LOCAL_SERVICE = "local_service"    # a service's state on this node changed
    PROBE = "probe"                    # at start, a service was found (partly) running
    SERVICE_STARTED = "service_started"  # every resource of a service started here
    SERVICE_FAILED = "service_failed"    # a resource failed to start here
    SERVICE_STOPPED = "service_stopped"  # every resource of a service stopped here
    STOP_FAILED = "stop_failed"        # a resource failed to stop: the node must be fenced
    RESOURCE_START = "resource_start"  # one resource's start action ended (ok or not)
    RESOURCE_STOP = "resource_stop"    # one resource's stop action ended (ok or not)
    MONITOR_FAILED = "monitor_failed"  # a resource's monitor found it failed
    STORAGE_ERROR = "storage_error"    # an I/O error on a device a local service uses
    # -- configuration
    CONFIG = "config"                  # a configuration version was loaded
    CONFIG_PUSH = "config_push"        # an operator pushed a configuration from here
    CONFIG_REFUSED = "config_refused"  # a pushed configuration was refused (or given up)


# The event that ends each resource action the service manager runs.
RESOURCE_KINDS: Mapping[str, EventKind] = {
    "start": EventKind.RESOURCE_START,
    "stop": EventKind.RESOURCE_STOP,
}
