"""The status page: server-rendered HTML (no script, no build step) from a `StatusSnapshot`."""
