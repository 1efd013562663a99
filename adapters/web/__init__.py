"""The loopback HTTP listener: Prometheus metrics, health endpoints and the status page."""
