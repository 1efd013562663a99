"""Persistence: exact column types, the schema, async engines, migrations and the repository.

The append-only journal is the source of truth; the in-memory ledger is rebuilt from
`Repository.load_journal` on start (`JournalRecord.to_event` gives the ledger's events).
"""

from adapters.storage.engine import (
    DatabaseUnavailableError,
    DatabaseURLError,
    create_engine,
    normalize_url,
    read_connection,
    session_factory,
    sqlite_url,
)
from adapters.storage.journal_lock import JournalLock, JournalLockedError, lock_journal
from adapters.storage.migrate import current_revision, head_revision, upgrade_database
from adapters.storage.records import (
    Account,
    Halt,
    Intent,
    IntentKind,
    IntentStatus,
    JournalEntry,
    JournalKind,
    JournalRecord,
    OrderEvent,
)
from adapters.storage.repository import (
    IntentConflictError,
    IntentNotFoundError,
    IntentTransitionError,
    Repository,
    StaleIntentError,
    StorageError,
)

__all__ = [
    "Account",
    "DatabaseURLError",
    "DatabaseUnavailableError",
    "Halt",
    "Intent",
    "IntentConflictError",
    "IntentKind",
    "IntentNotFoundError",
    "IntentStatus",
    "IntentTransitionError",
    "JournalEntry",
    "JournalKind",
    "JournalLock",
    "JournalLockedError",
    "JournalRecord",
    "OrderEvent",
    "Repository",
    "StaleIntentError",
    "StorageError",
    "create_engine",
    "current_revision",
    "head_revision",
    "lock_journal",
    "normalize_url",
    "read_connection",
    "session_factory",
    "sqlite_url",
    "upgrade_database",
]
