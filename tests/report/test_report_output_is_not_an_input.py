"""`tlh tax report --output` never replaces one of its inputs (issue #13, C.14).

`--trades t.csv --output t.csv` once replaced the trade history with its own report. An output
that is the same file as the trades, the accounts or the configuration (by inode: a link, a
relative or absolute spelling) is refused with exit 2 before anything is read or written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reportkit import DATA, EXAMPLES, tlh


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "--trades": ("trades.csv", DATA / "basic_trades.csv"),
        "--accounts": ("accounts.csv", DATA / "accounts.csv"),
        "--config": ("tlh.toml", EXAMPLES / "tlh.toml"),
    }
    copies = {}
    for option, (name, source) in files.items():
        copies[option] = tmp_path / name
        copies[option].write_bytes(source.read_bytes())
    return copies


def _report(inputs: dict[str, Path], output: Path | str) -> tuple[int, str]:
    args: list[str | Path] = ["tax", "report", "--format", "csv", "--output", output]
    for option, path in inputs.items():
        args += [option, path]
    result = tlh(*args)
    return result.exit_code, result.stderr


@pytest.mark.parametrize("option", ["--trades", "--accounts", "--config"])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
    inputs: dict[str, Path], option: str
) -> None:
    """Each input named as the output: exit 2, the option named, every file unchanged."""
    before = {path: path.read_bytes() for path in inputs.values()}
    code, stderr = _report(inputs, inputs[option])
    assert code == 2
    assert stderr.startswith(f"{inputs[option]}: is the {option} file")
    assert {path: path.read_bytes() for path in inputs.values()} == before
    assert sorted(p.name for p in inputs[option].parent.iterdir()) == sorted(
        p.name for p in inputs.values()
    )


def test_the_same_file_under_another_name_is_refused(
    inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symbolic link, a hard link and a relative spelling of the trades file are all it."""
    trades = inputs["--trades"]
    history = trades.read_bytes()
    (tmp_path / "symlink.csv").symlink_to(trades)
    os.link(trades, tmp_path / "hardlink.csv")
    monkeypatch.chdir(tmp_path)
    for output in ("symlink.csv", tmp_path / "hardlink.csv", "./sub/../trades.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        code, stderr = _report(inputs, output)
        assert code == 2, output
        assert "is the --trades file" in stderr
        assert trades.read_bytes() == history


def test_another_output_is_written(inputs: dict[str, Path], tmp_path: Path) -> None:
    """The check refuses only inputs: a new file beside them is written."""
    code, stderr = _report(inputs, tmp_path / "report.csv")
    assert code == 0, stderr
    assert (tmp_path / "report.csv").read_text().startswith("box,description,")
