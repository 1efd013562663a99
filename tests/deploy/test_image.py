"""The Dockerfile (issue #10 §6): runtime dependencies only, from a lock that matches the
image's Python, a base pinned by digest, a non-root user and the health check on /healthz."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from deploykit import ROOT, free_port

DOCKERFILE = (ROOT / "Dockerfile").read_text()
REQUIREMENTS = ROOT / "requirements"


def instructions(name: str) -> list[str]:
    """Return the arguments of every `name` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, re.MULTILINE)]


def final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def locked(lock: Path) -> dict[str, str]:
    """Return {name: version} of a uv/pip-compile lock file."""
    return dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", lock.read_text(), re.MULTILINE))


def lock_python(lock: Path) -> str:
    """Return the --python-version a lock was compiled for (its uv header)."""
    match = re.search(r"--python-version (\d+\.\d+)", lock.read_text())
    assert match, f"{lock.name} names no --python-version"
    return match.group(1)


def test_every_stage_starts_from_the_same_base_pinned_by_digest() -> None:
    """Issue #10 §6: a base image pinned by digest, so that a rebuild gets the same bytes."""
    bases = {f.split()[0] for f in instructions("FROM")}
    assert len(bases) == 1, bases
    assert re.fullmatch(r"python:3\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", bases.pop())


def test_the_image_installs_the_runtime_lock_only_and_checks_its_hashes() -> None:
    """Issue #10 §6: runtime dependencies only, not the dev lock; `--require-hashes` refuses
    any file whose hash the lock does not list."""
    runs = " ".join(instructions("RUN"))
    assert "dev.lock" not in DOCKERFILE
    assert re.search(r"--require-hashes --no-deps -r requirements/runtime\.lock", runs)


def test_the_runtime_lock_is_for_the_images_python() -> None:
    """Issue #10 §6: "a lock that matches the image's Python" (wheels are chosen per Python
    version); the Makefile's `lock` target compiles for the same version."""
    base = instructions("FROM")[0]
    image_python = re.match(r"python:(\d+\.\d+)", base)
    assert image_python
    makefile = (ROOT / "Makefile").read_text()
    make_python = re.search(r"^IMAGE_PYTHON\s*:=\s*(\S+)", makefile, re.MULTILINE)
    assert make_python
    versions = {lock_python(REQUIREMENTS / n) for n in ("runtime.lock", "build.lock")}
    assert versions == {image_python.group(1)} == {make_python.group(1)}


def test_the_runtime_lock_holds_no_development_tool() -> None:
    """Runtime only: none of pyproject's dev extra is in the image (pytest, mypy, ruff...)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = {
        re.split(r"[<>=\[; ]", d)[0].lower()
        for d in pyproject["project"]["optional-dependencies"]["dev"]
    }
    assert dev & set(locked(REQUIREMENTS / "runtime.lock")) == set()


def test_the_runtime_lock_covers_every_runtime_dependency() -> None:
    """Every dependency of pyproject.toml is pinned in the runtime lock (pip --no-deps would
    leave a missing one out of the image)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {
        re.split(r"[<>=\[; ]", d)[0].lower().replace("_", "-")
        for d in pyproject["project"]["dependencies"]
    }
    assert wanted - set(locked(REQUIREMENTS / "runtime.lock")) == set()


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    """The image's locks are compiled against the dev lock (`-c requirements/dev.lock`), so each
    package in the image has the version the test suite ran with."""
    dev = locked(REQUIREMENTS / "dev.lock")
    for name in ("runtime.lock", "build.lock"):
        image = locked(REQUIREMENTS / name)
        assert {p: v for p, v in image.items() if dev.get(p) != v} == {}, name


def test_the_image_runs_as_a_non_root_user() -> None:
    """Issue #10 §6: non-root. The final stage's USER is neither root nor uid 0."""
    users = re.findall(r"^USER\s+(\S+)", final_stage(), re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0", "0:0"}


def healthcheck_code() -> str:
    """Return the Python program of the image's HEALTHCHECK (exec form, `python -c`)."""
    (check,) = instructions("HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    code: str = command[2]
    return code


def test_the_health_check_asks_healthz_on_the_default_metrics_port() -> None:
    """Issue #10 §2: "The Docker health check uses" GET /healthz on the loopback listener
    (`[metrics] port`, 9877 by default: adapters/web/settings.py)."""
    code = healthcheck_code()
    assert "http://127.0.0.1:{port}/healthz" in code
    assert "os.environ.get('TLH_METRICS__PORT') or '9877'" in code


class Answer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthz(request: pytest.FixtureRequest) -> Iterator[int]:
    """Serve GET /healthz with the status code `request.param` on a free port; yield it."""
    handler = type("Handler", (Answer,), {"status": request.param})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(port: int, health_file: Path) -> int:
    """Run the image's health check with `TLH_METRICS__PORT=port` and `health_file` as the
    heartbeat."""
    code = healthcheck_code().replace("/data/health", str(health_file))
    env = {k: v for k, v in os.environ.items() if k != "TLH_METRICS__PORT"}
    env["TLH_METRICS__PORT"] = str(port)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, env=env)
    return run.returncode


@pytest.mark.parametrize("healthz", [503], indirect=True)
def test_the_health_check_asks_the_port_in_tlh_metrics_port(healthz: int, tmp_path: Path) -> None:
    """A container whose `[metrics] port` is moved with `TLH_METRICS__PORT` (the settings'
    environment override) is checked on that port: the stalled engine there is seen, although
    the heartbeat file is fresh (before, the check asked 9877 only)."""
    heartbeat = tmp_path / "health"
    heartbeat.write_text("now")
    assert run_healthcheck(healthz, heartbeat) != 0


@pytest.mark.parametrize(("healthz", "healthy"), [(200, True), (503, False)], indirect=["healthz"])
def test_the_health_check_follows_healthz(healthz: int, healthy: bool, tmp_path: Path) -> None:
    """/healthz answers 200 while the engine consumes events and 503 when it stalls (issue
    #10 §2); the check follows it, whatever the heartbeat file says."""
    heartbeat = tmp_path / "health"
    heartbeat.write_text("now")
    assert (run_healthcheck(healthz, heartbeat) == 0) is healthy


@pytest.mark.parametrize(("age", "healthy"), [(10, True), (600, False)])
def test_without_a_listener_the_health_check_reads_the_heartbeat_file(
    age: int, healthy: bool, tmp_path: Path
) -> None:
    """With [metrics] off nothing listens on 9877: the check falls back to the engine's
    heartbeat file (TLH_HEALTH_FILE, touched every 30 s), healthy while it is under 120 s old."""
    heartbeat = tmp_path / "health"
    heartbeat.write_text("then")
    os.utime(heartbeat, (time.time() - age, time.time() - age))
    assert (run_healthcheck(free_port(), heartbeat) == 0) is healthy


def test_without_a_listener_or_a_heartbeat_the_container_is_unhealthy(tmp_path: Path) -> None:
    """Before the daemon runs there is neither (tlh run removes a stale heartbeat at start)."""
    assert run_healthcheck(free_port(), tmp_path / "health") != 0
