"""Back-end storage errors: where they come from (the kernel's log, an external
watcher through `tandem storage-error`) and which services they concern."""
