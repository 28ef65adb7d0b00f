"""The service side of the daemon: the replicated facts (store), when a round is due
(pacing), what the cell shows (display), operators' requests, and the executor that runs
this node's share of the services."""
