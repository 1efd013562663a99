"""The shared service fixtures skip locally but fail in CI when a service is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

POSTGRES_EXAMPLE = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def shared() -> ModuleType:
    """Return tests/conftest.py, loaded by path: several folders have a module named conftest."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("tlh_shared_conftest", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_missing_service_skips_the_test_by_default(shared: ModuleType) -> None:
    """Without TLH_TEST_POSTGRES_URL a PostgreSQL test is skipped, and says how to run it."""
    with pytest.raises(pytest.skip.Exception, match="TLH_TEST_POSTGRES_URL"):
        shared.require_service(*shared.POSTGRES, env={})


def test_a_missing_service_fails_the_test_when_services_are_required(shared: ModuleType) -> None:
    """CI sets TLH_TEST_REQUIRE_SERVICES=1, so a missing service can never pass as a skip."""
    with pytest.raises(pytest.fail.Exception, match="TLH_TEST_REQUIRE_SERVICES"):
        shared.require_service(*shared.POSTGRES, env={"TLH_TEST_REQUIRE_SERVICES": "1"})


def test_a_configured_service_returns_its_url(shared: ModuleType) -> None:
    """With the variable set, the fixture gets the URL."""
    env = {"TLH_TEST_POSTGRES_URL": POSTGRES_EXAMPLE}
    assert shared.require_service(*shared.POSTGRES, env=env) == POSTGRES_EXAMPLE
