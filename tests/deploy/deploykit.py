"""Read the deployment files the tests check: the compose file, the image and the configs."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def compose() -> dict[str, Any]:
    """Return docker-compose.yml, parsed."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    """Return the compose services by name."""
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def tlh_config() -> dict[str, Any]:
    """Return the default profile's tlh.toml."""
    return tomllib.loads((DEPLOY / "tlh" / "tlh.toml").read_text())


def metric_family(sample: str) -> str:
    """Return the family a histogram's sample belongs to (`x_bucket` -> `x`); others as given."""
    for suffix in HISTOGRAM_SUFFIXES:
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
