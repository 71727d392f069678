"""``params()`` filters and fixed sizes, ``params_and_data()`` and ``source_data(params)``:
data always fits the params it is drawn with; bad arguments raise before drawing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from rlnc_testbed.protocol import Params
from rlnc_testbed.simulation import simulate_trial
from rlnc_testbed.strategies import params, params_and_data, scenarios, source_data


@given(params(scheme="rlnc", field=2, keep=("block", "shuffle"), systematic=True))
def test_choices_fix_or_filter(p: Params) -> None:
    assert p.scheme == "rlnc" and p.field == 2 and p.keep in ("block", "shuffle")
    assert p.systematic is True


@given(params(peers=4, symbols=3, symbol_size=5, rounds=2, failures=False))
def test_fixed_sizes(p: Params) -> None:
    assert (p.peers, p.symbols, p.symbol_size, p.rounds, p.failures) == (4, 3, 5, 2, ())


@given(params(min_peers=5, max_peers=7, min_symbols=4, min_symbol_size=3, min_rounds=3))
def test_lower_bounds(p: Params) -> None:
    assert 5 <= p.peers <= 7 and 4 <= p.symbols <= 8 and 3 <= p.symbol_size <= 8
    assert 3 <= p.rounds <= 5


@settings(max_examples=300, deadline=None)
@given(params_and_data(max_peers=6, max_data_size=64))
def test_data_always_fits_its_params(pair: tuple[Params, bytes]) -> None:
    """The README's property at 300 examples: the reference simulator takes every pair."""
    p, data = pair
    assert len(data) <= min(64, p.symbols * p.symbol_size)
    record = simulate_trial(p, 0, data=data)
    assert 1 <= len(record.rounds) <= p.rounds


@settings(max_examples=200)
@given(params_and_data(min_data_size=30, max_symbols=4, max_symbol_size=8, scheme="rlnc"))
def test_min_data_size_draws_params_that_hold_it(pair: tuple[Params, bytes]) -> None:
    p, data = pair
    assert 30 <= len(data) <= p.symbols * p.symbol_size and p.scheme == "rlnc"


@given(st.data())
def test_source_data_of_drawn_params_fits(data: st.DataObject) -> None:
    p = data.draw(params(max_symbols=3, max_symbol_size=4))
    assert len(data.draw(source_data(p))) <= p.symbols * p.symbol_size
    assert 1 <= len(data.draw(source_data(p, min_size=1, max_size=1))) <= 1


@given(scenarios(scheme="replication", max_peers=3, failures=False))
def test_scenarios_take_params_options(scenario) -> None:
    assert scenario.params.scheme == "replication" and scenario.params.peers <= 3
    assert scenario.params.failures == () and scenario.name == "generated"


@pytest.mark.parametrize(
    "call",
    [
        lambda: params(scheme="lt-codes"),
        lambda: params(scheme=()),
        lambda: params(field=3),
        lambda: params(field=True),
        lambda: params(keep=["distinct", "random"]),
        lambda: params(systematic="yes"),
        lambda: params(failures=None),
        lambda: params(peers=1),
        lambda: params(min_symbols=9),
        lambda: params(symbol_size=0),
        lambda: params(max_peers=10_001),
        lambda: params_and_data(min_data_size=65, max_symbols=8, max_symbol_size=8),
        lambda: params_and_data(min_data_size=10, max_data_size=5),
        lambda: params_and_data(min_data_size=-1),
        lambda: params_and_data(max_size=3),
        lambda: source_data(),
        lambda: source_data(Params(peers=2, symbols=2, symbol_size=3, parents=1), max_size=7),
        lambda: source_data("not params", max_size=3),
        lambda: scenarios(shceme="rlnc"),
    ],
)
def test_bad_arguments_raise_when_called(call) -> None:
    with pytest.raises((InvalidArgument, TypeError)):
        call()


def test_bad_params_option_of_params_and_data_names_it() -> None:
    with pytest.raises(InvalidArgument, match="max_size"):
        params_and_data(max_size=3)
