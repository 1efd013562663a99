"""`tlh` imports only the module of the command it runs (`daemon.cli.COMMAND_MODULES`)."""

from __future__ import annotations

import subprocess
import sys

from daemon.cli import COMMAND_MODULES, _register, app


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    """A command missing from the map would still work (all modules are imported then), but
    `tlh <command>` naming a module that does not register it would fail to find it."""
    _register()
    found = {c.name: c.callback.__module__ for c in app.registered_commands if c.callback}
    for group in app.registered_groups:
        commands = group.typer_instance.registered_commands if group.typer_instance else []
        modules = {c.callback.__module__ for c in commands if c.callback}
        assert len(modules) == 1, group.name
        found[group.name] = modules.pop()
    assert found == {name: f"daemon.cli.{module}" for name, module in COMMAND_MODULES.items()}


def test_the_tax_report_does_not_import_the_broker_sdks_or_the_database_layer() -> None:
    """`tlh tax report` starts in a fraction of a second: alpaca-py (and pandas with it) and
    SQLAlchemy are left unimported."""
    code = (
        "import sys; from daemon.cli import _register; _register(['tax', 'report']); "
        "print(sorted(m for m in ('alpaca', 'pandas', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
