"""The Flex Web Service v3 client (`adapters/ib/flex_service.py`) against a fake on 127.0.0.1.

IB's documentation (https://www.interactivebrokers.com/campus/ibkr-api-page/flex-web-service/
and https://www.ibkrguides.com/clientportal/performanceandstatements/flex3.htm): two steps,
SendRequest then GetStatement, ``t`` the token, ``q`` the query id then the reference code,
``v=3``; programmatic access requires a User-Agent header; error 1019 means the statement is
still being generated. The guide: secrets never reach a log line, at any level.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from fake_flex import QUERY_ID, REFERENCE, TOKEN, FakeFlex, serving

from adapters.ib.flex_service import FlexServiceError, RetryPolicy, fetch_statement

pytestmark = pytest.mark.timeout(60)
STATEMENT = (Path(__file__).parent / "fixtures" / "activity_2025.xml").read_bytes()
QUICK = RetryPolicy(first_wait=0.01, growth=1.0, longest_wait=0.01, max_wait=0.2)


def token_runs(text: str, run: int = 8) -> list[str]:
    """Return the runs of `run` characters of the token (as written or in hex) in `text`."""
    forms = {TOKEN[i : i + run] for i in range(len(TOKEN) - run + 1)}
    forms |= {f.encode().hex() for f in forms}
    return sorted(f for f in forms if f in text)


@pytest.fixture
def fake() -> Iterator[FakeFlex]:
    with serving(FakeFlex(statement=STATEMENT)) as served:
        yield served


def fetch(fake: FakeFlex, retry: RetryPolicy = QUICK) -> bytes:
    return asyncio.run(fetch_statement(fake.url, TOKEN, QUERY_ID, retry=retry))


def test_the_statement_is_fetched_in_two_steps_with_a_user_agent(fake: FakeFlex) -> None:
    """SendRequest with the query id, then GetStatement with the reference code it answered;
    every request carries a User-Agent (IB refuses programmatic access without one)."""
    assert fetch(fake) == STATEMENT

    steps = [(r.path.rsplit("/", 1)[1], r.query["q"]) for r in fake.requests]
    assert steps == [("SendRequest", QUERY_ID), ("GetStatement", REFERENCE)]
    assert all(r.headers.get("User-Agent", "").startswith("tlh/") for r in fake.requests)
    assert all(r.query["v"] == "3" for r in fake.requests)


def test_the_token_travels_only_as_the_t_parameter(fake: FakeFlex) -> None:
    """The token is the `t` parameter of each request and appears in no header, path or other
    parameter."""
    fetch(fake)

    for r in fake.requests:
        assert r.query["t"] == TOKEN
        others = [v for k, v in r.query.items() if k != "t"]
        assert not token_runs(" ".join([r.path, *others, *r.headers.values()]))


def test_the_token_reaches_no_log_line_at_debug(
    fake: FakeFlex, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, neither tlh's log lines nor aiohttp's (or any library's) show the token."""
    fake.pending = 1
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        fetch(fake)

    assert {e["event"] for e in events} >= {"flex_request", "flex_statement_pending"}
    logged = "\n".join([*(str(e) for e in events), *(r.getMessage() for r in caplog.records)])
    assert not token_runs(logged)


def test_statement_generation_in_progress_is_retried(fake: FakeFlex) -> None:
    """Error 1019 ("Statement generation in progress. Please try again shortly.") makes the
    client ask again, until the statement comes."""
    fake.pending = 3

    assert fetch(fake) == STATEMENT
    gets = [r for r in fake.requests if r.path.endswith("GetStatement")]
    assert len(gets) == 4


def test_the_wait_for_a_statement_is_bounded(fake: FakeFlex) -> None:
    """A statement that never comes ends with an error after the policy's wait, not a hang."""
    fake.pending = 10_000

    with pytest.raises(FlexServiceError, match="still not ready") as caught:
        fetch(fake)
    assert caught.value.code == "1019"
    gets = [r for r in fake.requests if r.path.endswith("GetStatement")]
    assert len(gets) == len(QUICK.waits()) < 100


def test_an_expired_token_ends_with_ibs_code_and_message(fake: FakeFlex) -> None:
    """Error 1012 ("Token has expired.") is not retried; the error gives IB's code and
    message, and not the token."""
    fake.send_error = ("1012", "Token has expired.")

    with pytest.raises(FlexServiceError) as caught:
        fetch(fake)

    assert caught.value.code == "1012"
    assert "error 1012: Token has expired." in str(caught.value)
    assert not token_runs(str(caught.value))
    assert len(fake.requests) == 1


def test_an_error_while_fetching_the_statement_is_not_retried(fake: FakeFlex) -> None:
    """An error other than the retryable ones at GetStatement ends the download at once."""
    fake.get_error = ("1003", "Statement is not available.")

    with pytest.raises(FlexServiceError, match="error 1003: Statement is not available"):
        fetch(fake)
    assert len(fake.requests) == 2


def test_an_unreachable_service_names_the_base_url_not_the_request() -> None:
    """A connection failure names the configured base URL; the request URL (with the token)
    is not in the message."""
    with pytest.raises(FlexServiceError) as caught:
        asyncio.run(
            fetch_statement("http://127.0.0.1:9/FlexWebService", TOKEN, QUERY_ID, retry=QUICK)
        )
    message = str(caught.value)
    assert "http://127.0.0.1:9/FlexWebService" in message
    assert "cannot reach" in message
    assert not token_runs(message)
