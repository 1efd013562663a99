"""A protocol-level fake of Alpaca for tests that drive the real alpaca-py SDK.

See ``server.FakeAlpaca`` for the control API and ``scenarios`` for SDK wiring helpers.
"""

from .server import KEY, SECRET, Connection, FakeAlpaca, RequestRecord
from .state import AccountState, ApiError, Asset, FakeOrder, FillPolicy, Position

__all__ = [
    "KEY",
    "SECRET",
    "AccountState",
    "ApiError",
    "Asset",
    "Connection",
    "FakeAlpaca",
    "FakeOrder",
    "FillPolicy",
    "Position",
    "RequestRecord",
]
