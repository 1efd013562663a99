"""`[sim]`: the replay settings, only with the simulated broker, and the shipped example.

The developers' guide: "Nothing the configuration accepts is silently inert: unknown keys
rejected naming the key"; issue #10 §6 (the replay needs the demo's `[[substitutes]]` to buy
and harvest anything).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.prices.csvload import load_prices
from daemon.demo_data import demo_config_path, demo_prices_path
from daemon.replay import demo_holdings
from daemon.settings import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]
IB = 'broker = "ib"\n[ib]\naccount = "DU1234567"\n'


@pytest.mark.parametrize(
    ("section", "key"),
    [("[sim]\nspeed = 5\n", "sim.speed"), ("[sim]\n", "sim")],
    ids=["a-key", "an-empty-section"],
)
def test_sim_with_another_broker_is_refused_naming_the_key(
    tmp_path: Path, section: str, key: str
) -> None:
    """`[sim]` does nothing unless broker is "sim": given with IB, it is an error naming it."""
    path = tmp_path / "tlh.toml"
    path.write_text(IB + section)

    with pytest.raises(ConfigError) as error:
        load_settings(path)

    [problem] = error.value.problems
    assert problem.startswith(f'{path}: {key}: applies only to broker = "sim"')


@pytest.mark.parametrize("config", ["examples/tlh-sim.toml", "deploy/tlh/tlh.toml"])
def test_the_shipped_replay_configs_replay_the_demo_with_its_groups(
    config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example and the compose stack's default config play the demo prices on the
    simulator with the demo's substitute groups, so the replay buys the demo's nine positions
    and harvests (issue #10 §6: a live harvest)."""
    monkeypatch.setenv("TLH_MQTT__PASSWORD", "correct-horse-battery")  # the stack's secret
    example = load_settings(REPO / config)
    demo = load_settings(demo_config_path())

    assert (example.broker, example.sim.replay) == ("sim", "demo")
    assert example.substitutes == demo.substitutes
    assert len(demo_holdings(load_prices(demo_prices_path()), example)) == 9
