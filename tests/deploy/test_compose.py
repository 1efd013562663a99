"""docker-compose.yml: the stack of issue #10 §6, safe by default.

Every published port on 127.0.0.1, every capability dropped, secrets as files, the services
as profiles, and the default profile running tlh on the demo replay with metrics and MQTT
against the compose Mosquitto.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from deploykit import ROOT, compose, services, tlh_config

TLH = Path(sys.executable).with_name("tlh")
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)


def published(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Return (host address, host port) of each published port, in short or long syntax."""
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.append((port.get("host_ip"), str(port.get("published"))))
        else:
            parts = str(port).split(":")
            ports.append((parts[0] if len(parts) == 3 else None, parts[-2] if parts[1:] else ""))
    return ports


def test_every_published_port_binds_the_hosts_loopback() -> None:
    """Guide, safe defaults: services bind 127.0.0.1 (issue #10 §6: "every published port on
    127.0.0.1"); a port without an address would listen on every interface."""
    ports = {name: published(s) for name, s in services().items() if s.get("ports")}
    assert ports, "no published ports"
    assert {name: [p for p in found if p[0] != "127.0.0.1"] for name, found in ports.items()} == {
        name: [] for name in ports
    }


def test_every_service_drops_every_capability_and_adds_none_back() -> None:
    """Issue #10 §6: `cap_drop: [ALL]`. Each service runs as a non-root user from the start
    (docker-compose.yml says how), so none needs a capability back."""
    caps = {name: (s.get("cap_drop"), s.get("cap_add")) for name, s in services().items()}
    assert caps == {name: (["ALL"], None) for name in caps}


def test_every_service_forbids_new_privileges() -> None:
    """Docker's `no-new-privileges` keeps a setuid binary in an image from regaining what
    cap_drop took (docs.docker.com/reference/cli/docker/container/run/#security-opt)."""
    opts = {name: s.get("security_opt", []) for name, s in services().items()}
    assert {n: "no-new-privileges:true" in o for n, o in opts.items()} == dict.fromkeys(opts, True)


def test_secrets_are_files_mounted_by_compose() -> None:
    """Issue #10 §6: secrets as files. Every secret a service names is a top-level secret read
    from a file, never an environment value."""
    declared = compose()["secrets"]
    assert all(set(spec) == {"file"} for spec in declared.values()), declared
    named = {
        (entry["source"] if isinstance(entry, dict) else entry)
        for s in services().values()
        for entry in s.get("secrets", [])
    }
    assert named <= set(declared)


def test_no_environment_value_is_a_secret() -> None:
    """Guide: secrets never in the environment (`docker inspect` shows it). A secret-looking
    variable may only name a file or folder under /run/secrets (`POSTGRES_PASSWORD_FILE`,
    Grafana's `__FILE`, `TLH_SECRETS_DIR`)."""
    offenders = {
        f"{name}.{key}": value
        for name, s in services().items()
        for key, value in (s.get("environment") or {}).items()
        if SECRETISH.search(key) and not str(value).startswith("/run/secrets/")
    }
    assert offenders == {}


def test_the_optional_services_are_profiles_and_the_default_is_tlh_and_its_broker() -> None:
    """Issue #10 §6: PostgreSQL, Prometheus, Grafana (and IB Gateway) as profiles; the default
    profile (`docker compose up -d`) runs tlh and the Mosquitto its default config publishes to.
    `--profile grafana` brings the Prometheus that Grafana reads."""
    profiles = {name: set(s.get("profiles", [])) for name, s in services().items()}
    assert profiles == {
        "tlh": set(),
        "mosquitto": set(),
        "postgres": {"postgres"},
        "prometheus": {"prometheus", "grafana"},
        "grafana": {"grafana"},
        "ib-gateway": {"ib"},
    }


def test_tlh_reads_the_default_config_read_only_with_its_mqtt_password_as_a_secret() -> None:
    """The default profile runs deploy/tlh/tlh.toml, mounted read-only, with the MQTT password
    as the secret file tlh reads from TLH_SECRETS_DIR (README, "Configuration")."""
    tlh = services()["tlh"]
    assert "${TLH_CONFIG_DIR:-./deploy/tlh}:/config:ro" in tlh["volumes"]
    secrets_dir = tlh["environment"]["TLH_SECRETS_DIR"]
    targets = {e["target"] for e in tlh["secrets"]}
    assert f"{secrets_dir}/TLH_MQTT__PASSWORD" in targets


def test_the_default_config_replays_the_demo_on_the_sim_broker_with_metrics_and_mqtt() -> None:
    """Issue #10 §6: the compose file's default profile plays the bundled demo prices through
    the running daemon on the simulated broker, serving metrics and publishing to Mosquitto."""
    config = tlh_config()
    assert (config["broker"], config["sim"]["replay"]) == ("sim", "demo")
    assert config["metrics"]["enabled"]
    assert config["mqtt"]["enabled"]
    assert config["mqtt"]["url"] == "mqtt://mosquitto:1883"
    assert "password" not in config["mqtt"]


def test_the_metrics_port_listens_in_the_container_and_is_published_on_loopback() -> None:
    """The listener binds every interface of the container (else the published port and
    Prometheus reach nothing) and compose publishes that port on the host's loopback only."""
    metrics = tlh_config()["metrics"]
    assert metrics["host"] == "0.0.0.0"
    assert published(services()["tlh"]) == [("127.0.0.1", str(metrics["port"]))]


def test_the_default_config_passes_config_check(tmp_path: Path) -> None:
    """`tlh config check` accepts deploy/tlh/tlh.toml with the MQTT password as a secret file,
    as the container sees it: every key exists and every value is valid."""
    (tmp_path / "TLH_MQTT__PASSWORD").write_text("correct-horse-battery\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    result = subprocess.run(
        [str(TLH), "config", "check", "--config", str(ROOT / "deploy/tlh/tlh.toml")],
        env=env | {"TLH_SECRETS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def docker_compose() -> list[str] | None:
    """Return the command of Docker Compose v2 here, or None."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.mark.skipif(docker_compose() is None, reason="Docker Compose v2 is not installed here")
def test_docker_compose_accepts_the_file_with_every_profile(tmp_path: Path) -> None:
    """`docker compose config` (no Docker daemon needed) validates the file against the
    Compose Specification, with every profile on and the secret files in place."""
    for spec in compose()["secrets"].values():
        path = tmp_path / spec["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    command = docker_compose()
    assert command is not None
    profiles = {p for s in services().values() for p in s.get("profiles", [])}
    result = subprocess.run(
        [*command, *(f"--profile={p}" for p in sorted(profiles)), "config", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
