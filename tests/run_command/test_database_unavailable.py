"""A database that cannot be opened is one clear line, exit 2 (issue 13 §C.12).

An unreachable PostgreSQL or a SQLite file in a missing folder gave tracebacks from `tlh
status`, `tlh lots`, `tlh run`, `tlh halts`. Every command's first connection goes through
`adapters.storage.engine.open_connection` (and `tlh run`'s lock through
`adapters.storage.journal_lock`), which name the database, password hidden, and the cause.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TLH = Path(sys.executable).with_name("tlh")
COMMANDS = [
    ["run"],
    ["lots"],
    ["status"],
    ["halts", "list"],
    ["halts", "clear", "VTI"],
    ["harvest", "--dry-run"],
    ["db", "upgrade"],
    ["pause"],
    ["resume"],
]


def unavailable(tmp_path: Path) -> dict[str, tuple[str, str, str]]:
    """Return {case: (URL, what the message shows, the cause it names)}."""
    missing = tmp_path / "no-such-folder"
    return {
        "sqlite-missing-folder": (
            f"sqlite+aiosqlite:///{missing / 'tlh.sqlite'}",
            f"sqlite+aiosqlite:///{missing / 'tlh.sqlite'}",
            f"folder {missing} does not exist",
        ),
        "postgres-unreachable": (
            "postgresql+asyncpg://tlh:s3cret@127.0.0.1:1/tlh",
            "postgresql+asyncpg://tlh:***@127.0.0.1:1/tlh",
            "Connect call failed",
        ),
    }


@pytest.mark.parametrize("case", ["sqlite-missing-folder", "postgres-unreachable"])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unopenable_database_is_one_line_and_exit_2(
    tmp_path: Path, case: str, command: list[str]
) -> None:
    """Exit 2; stderr is one line naming the database (no password) and the cause."""
    url, shown, cause = unavailable(tmp_path)[case]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLH_")}
    result = subprocess.run(
        [str(TLH), *command],
        cwd=tmp_path,
        env=env | {"TLH_DATABASE__URL": url},
        text=True,
        capture_output=True,
        timeout=60,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"tlh: cannot open database {shown}: ")
    assert cause in line
    assert "s3cret" not in output
    assert "Traceback" not in output
    assert not (tmp_path / "no-such-folder").exists()  # nothing created
