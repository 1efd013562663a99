"""Project-wide fixtures: temporary databases and external services.

Tests that need a service (PostgreSQL, MQTT) take its fixture. When the service's variable is
unset the test is skipped, unless ``TLH_TEST_REQUIRE_SERVICES=1`` (CI), which makes it fail.
The variables are read once, at import, so fixtures that clear ``TLH_*`` from the environment
for config tests do not turn service tests into skips.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import settings
from sqlalchemy.engine import make_url

# Property tests judge results, not speed: on a busy 2-core machine an example can take longer
# than Hypothesis's default 200 ms deadline and fail as flaky. Benchmarks under bench/ time code.
settings.register_profile("tlh", deadline=None)
settings.load_profile("tlh")

POSTGRES = (
    "PostgreSQL",
    "TLH_TEST_POSTGRES_URL",
    "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
)
MQTT = ("MQTT", "TLH_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
_SERVICE_ENV = {
    name: os.environ.get(name, "") for name in ("TLH_TEST_REQUIRE_SERVICES", POSTGRES[1], MQTT[1])
}


def require_service(
    service: str, variable: str, example: str, env: Mapping[str, str] = _SERVICE_ENV
) -> str:
    """Return the URL in `variable`; skip the test without it, or fail it in CI."""
    value = env.get(variable, "").strip()
    if value:
        return value
    message = f"{service} tests need {variable} (e.g. {example})"
    if env.get("TLH_TEST_REQUIRE_SERVICES", "").strip() == "1":
        pytest.fail(f"{message}; TLH_TEST_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a service fixture, so ``-m "not postgres"`` deselects them."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "postgres_url" in names:
            item.add_marker(pytest.mark.postgres)
        if "mqtt_url" in names:
            item.add_marker(pytest.mark.mqtt)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Return the async URL of a new SQLite database file under `tmp_path`."""
    return f"sqlite+aiosqlite:///{tmp_path / 'tlh.sqlite'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Yield the URL of a new, empty PostgreSQL database, dropped after the test.

    The database is created through the server's ``postgres`` maintenance database, so the
    database named in TLH_TEST_POSTGRES_URL itself is never touched.
    """
    base = make_url(require_service(*POSTGRES))
    name = f"tlh_test_{uuid.uuid4().hex[:16]}"
    admin = base.set(drivername="postgresql", database="postgres")
    admin_dsn = admin.render_as_string(hide_password=False)
    _run_in_thread(_admin_sql(admin_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _run_in_thread(_admin_sql(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Return a fresh database URL, once per backend (SQLite, PostgreSQL)."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def mqtt_url() -> str:
    """Return the URL of the MQTT broker for tests (TLH_TEST_MQTT_URL)."""
    return require_service(*MQTT)


async def _admin_sql(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run_in_thread(coro: Coroutine[Any, Any, None]) -> None:
    # Its own loop in its own thread: safe whether or not the test's event loop is running.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()
