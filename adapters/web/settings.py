"""`[metrics]`: the loopback HTTP listener (`/metrics`, `/healthz`, `/readyz`, the status page).

It binds to 127.0.0.1 unless `host` says otherwise (in a container, the compose file publishes
the port on the host's loopback only). Whatever it binds to, it answers only requests addressed
(the ``Host`` header) to a loopback name or address, or to one of `allowed_hosts`: the names
other machines or containers reach it by, e.g. ``["tlh"]`` for Prometheus in the compose stack.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, Field

from adapters.settings_types import Host, Port, Section

# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_HOST_NAME = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def _host_name_or_ip(value: str) -> str:
    """Return `value` if it is a host name (lower-cased, without a trailing dot) or an IP
    address (in its canonical form); raise ValueError."""
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    if len(value) > 253 or not _HOST_NAME.match(value):
        raise ValueError(f"{value!r} is not a host name or an IP address")
    return value.lower().removesuffix(".")


AllowedHost = Annotated[str, AfterValidator(_host_name_or_ip)]


class MetricsSettings(Section):
    """The Prometheus ``/metrics`` endpoint, the health endpoints and the status page."""

    enabled: bool = False
    host: Host = "127.0.0.1"
    port: Port = 9877
    allowed_hosts: tuple[AllowedHost, ...] = Field(default=(), max_length=32)
