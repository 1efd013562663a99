"""deploy/: Mosquitto requires a password, Prometheus scrapes tlh, and Grafana's provisioned
dashboard reads only the metrics tlh exports (issue #10 §1 and §6)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from deploykit import DEPLOY, free_port, metric_family, services, tlh_config
from observation_kit import CONTRACT_METRICS, harvest_record, open_lot, status_snapshot
from prometheus_client import CollectorRegistry

from adapters.web.metrics import DaemonCollector
from daemon import observation as o

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "tlh.json"
MOSQUITTO_CONF = DEPLOY / "mosquitto" / "mosquitto.conf"


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def queried_metrics() -> set[str]:
    """Return every tlh_* family that a panel of the dashboard queries."""
    exprs = [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]
    return {metric_family(m) for e in exprs for m in re.findall(r"\btlh_[a-z0-9_]+", e)}


def test_the_dashboard_queries_only_the_metric_names_of_the_contract() -> None:
    """Issue #10 §1: the metric names are a contract; the dashboard may use no other name, or a
    panel would stay empty."""
    queried = queried_metrics()
    assert queried, "the dashboard queries no tlh metric"
    assert queried - set(CONTRACT_METRICS) == set()


def test_the_dashboard_shows_the_harvest_and_health_figures() -> None:
    """Issue #10 §6: Grafana shows a live harvest: harvested losses, harvests, unrealized loss,
    open lots, stream connectivity, quote age, order latency, decisions, intents, halts and
    the harvesting yield."""
    wanted = {
        "tlh_harvested_loss_dollars_total",
        "tlh_harvests_total",
        "tlh_unrealized_loss_dollars",
        "tlh_open_lots",
        "tlh_stream_connected",
        "tlh_last_quote_age_seconds",
        "tlh_order_latency_seconds",
        "tlh_decisions_total",
        "tlh_intents_in_flight",
        "tlh_halted_symbols",
        "tlh_harvest_yield_ratio",
    }
    assert wanted - queried_metrics() == set()


def test_every_panel_reads_the_datasource_chosen_on_the_dashboard() -> None:
    """Grafana docs (dashboards/variables, "Data source variable"): panels on `${datasource}`
    work both provisioned and imported by hand into another Grafana, where the user picks the
    Prometheus data source."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource",
        "prometheus",
    )
    sources = {
        json.dumps(x["datasource"], sort_keys=True)
        for p in dashboard()["panels"]
        for x in [p, *p.get("targets", [])]
    }
    assert sources == {json.dumps({"type": "prometheus", "uid": "${datasource}"}, sort_keys=True)}


def test_grafana_provisions_the_dashboard_folder_compose_mounts_and_the_prometheus_service() -> (
    None
):
    """Grafana docs (administration/provisioning): a file provider loads the dashboards from
    `options.path`, which must be where compose mounts deploy/grafana/dashboards; the data
    source is the compose Prometheus."""
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/tlh.yml").read_text())
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    mounts = dict(v.split(":")[:2][::-1] for v in services()["grafana"]["volumes"])
    path = providers["providers"][0]["options"]["path"]
    assert mounts[path] == "./deploy/grafana/dashboards"
    assert [(s["type"], s["url"]) for s in sources["datasources"]] == [
        ("prometheus", "http://prometheus:9090")
    ]


def test_prometheus_scrapes_the_tlh_metrics_endpoint() -> None:
    """Issue #10 §1: GET /metrics on port 9877; in compose the daemon is the service `tlh`."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["tlh"].get("metrics_path", "/metrics") == "/metrics"
    assert [t for c in jobs["tlh"]["static_configs"] for t in c["targets"]] == ["tlh:9877"]


def test_the_listener_answers_the_host_prometheus_scrapes() -> None:
    """adapters/web/server.py answers only loopback hosts and `[metrics] allowed_hosts` (DNS
    rebinding): the default config allows the host of every Prometheus target, else every
    scrape is refused with 421."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t for j in config["scrape_configs"] for c in j["static_configs"] for t in c["targets"]
    ]
    hosts = {t.rsplit(":", 1)[0] for t in targets}
    assert hosts <= set(tlh_config()["metrics"].get("allowed_hosts", []))


def test_mosquitto_requires_a_password_from_the_compose_secret() -> None:
    """Issue #10 §6: Mosquitto "requires a password". mosquitto.conf(5): `allow_anonymous
    false` and a `password_file`, which is the secret compose mounts."""
    directives = dict(
        line.split(None, 1)
        for line in MOSQUITTO_CONF.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert directives["allow_anonymous"] == "false"
    targets = {e["target"] for e in services()["mosquitto"]["secrets"]}
    assert directives["password_file"] in targets


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[int]:
    """Run Mosquitto with deploy/mosquitto/mosquitto.conf (on a free loopback port, with a
    password file for tlh/correct-horse) and yield its port."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    passwd = shutil.which("mosquitto_passwd")
    if binary is None or passwd is None:
        message = "Mosquitto (Debian's mosquitto package) is not installed here"
        if os.environ.get("TLH_TEST_REQUIRE_SERVICES") == "1":  # CI (tests/conftest.py)
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    password_file = tmp_path / "passwd"
    subprocess.run([passwd, "-b", "-c", str(password_file), "tlh", "correct-horse"], check=True)
    port = free_port()
    conf = MOSQUITTO_CONF.read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/run/secrets/mosquitto_passwd", str(password_file))
    if os.geteuid() == 0:  # keep root's access to the test's files (compose runs it as 1883)
        conf += "user root\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    proc = subprocess.Popen([binary, "-c", str(tmp_path / "mosquitto.conf")])
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        assert proc.poll() is None, "mosquitto exited"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def connect(port: int, username: str | None, password: str | None) -> None:
    async with aiomqtt.Client("127.0.0.1", port, username=username, password=password, timeout=5):
        pass


def test_mosquitto_refuses_a_client_without_a_password(mosquitto: int) -> None:
    """mosquitto.conf(5), allow_anonymous false: a client with no credentials is refused."""
    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(connect(mosquitto, None, None))


def test_mosquitto_refuses_a_wrong_password(mosquitto: int) -> None:
    """password_file: a known user with a wrong password is refused."""
    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(connect(mosquitto, "tlh", "wrong-horse"))


def test_mosquitto_accepts_a_user_of_the_password_file(mosquitto: int) -> None:
    """The listener lets the other containers connect: a user of the password file with its
    password is accepted."""
    asyncio.run(connect(mosquitto, "tlh", "correct-horse"))


def collector_names() -> set[str]:
    """Return every sample name the daemon's Prometheus collector yields over a full view."""
    lot = open_lot("XOM", "1000", "900", quantity=10, account="main", acquired=date(2026, 1, 5))
    harvest = harvest_record(
        "i1", date(2026, 3, 2), "XOM", "100", "24", account="main", replacement="CVX"
    )
    snapshot = status_snapshot(
        at=datetime(2026, 3, 2, 15, tzinfo=UTC),
        today=date(2026, 3, 2),
        mode="paper",
        trading_enabled=True,
        journal_entries=3,
        open_lots=(lot,),
        harvests=(harvest,),
    )
    counters = o.Counters(
        quotes=5,
        decisions={"harvest": 1},
        orders={("sell", "filled"): 1},
        streams={"quotes": True},
        last_quote_age_seconds=1.0,
        tracking_error_ratio=0.01,
    )

    class View:
        def counters(self) -> o.Counters:
            return counters

        async def snapshot(self, max_age: float = o.FRESH_SNAPSHOT_SECONDS) -> o.StatusSnapshot:
            return snapshot

    collector = DaemonCollector(View())
    asyncio.run(collector.refresh())
    registry = CollectorRegistry()
    registry.register(collector)
    return {s.name for family in registry.collect() for s in family.samples}


def test_the_dashboard_queries_only_what_the_collector_exports() -> None:
    """The dashboard against the daemon's own collector (adapters/web/metrics.py): every
    metric it queries is one the daemon yields."""
    exported = {metric_family(n) for n in collector_names()}
    assert queried_metrics() - exported == set()
