"""The REST session resolves the environment's proxy and CA settings once, when it is built.

`requests` otherwise reads proxy variables and ~/.netrc on every call, which is about a third
of the time an order takes to leave a loaded daemon (bench/alpaca_e2e.py).
"""

from __future__ import annotations

import pytest

from adapters.alpaca.client import AlpacaRest


def test_proxy_variables_present_at_start_apply_to_every_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY set when the daemon starts is used; the session stops re-reading it."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    rest = AlpacaRest("key", "secret", "https://paper-api.alpaca.markets", paper=True)
    session = rest._client._session

    assert session.proxies == {"https": "http://proxy.invalid:3128"}
    assert session.trust_env is False
    rest.close()


def test_no_proxy_keeps_a_local_endpoint_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_PROXY is honoured as requests honours it: a listed host gets no proxy."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    rest = AlpacaRest("key", "secret", "http://127.0.0.1:8080", paper=True)

    assert rest._client._session.proxies == {}
    rest.close()


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """REQUESTS_CA_BUNDLE (a corporate CA, say) still verifies TLS after the freeze."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/corporate.pem")

    rest = AlpacaRest("key", "secret", "https://paper-api.alpaca.markets", paper=True)

    assert rest._client._session.verify == "/etc/ssl/certs/corporate.pem"
    rest.close()
