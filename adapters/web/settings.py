"""`[metrics]`: the loopback HTTP listener (`/metrics`, `/healthz`, `/readyz`, the status page).

It binds to 127.0.0.1 unless `host` says otherwise (in a container, the compose file publishes
the port on the host's loopback only).
"""

from __future__ import annotations

from adapters.settings_types import Host, Port, Section


class MetricsSettings(Section):
    """The Prometheus ``/metrics`` endpoint, the health endpoints and the status page."""

    enabled: bool = False
    host: Host = "127.0.0.1"
    port: Port = 9877
