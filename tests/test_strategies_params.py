"""The public ``params()`` strategy: valid draws, argument errors before drawing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis.errors import InvalidArgument

from rlnc_testbed.protocol import Params
from rlnc_testbed.strategies import params, scenarios


@given(params(max_peers=4, max_symbols=3, max_rounds=2, max_symbol_size=2))
def test_draws_respect_bounds(p: Params) -> None:
    assert 2 <= p.peers <= 4 and 1 <= p.symbols <= 3 and 1 <= p.rounds <= 2
    assert 1 <= p.symbol_size <= 2 and 1 <= p.upload <= p.per_peer
    assert Params.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    "kwargs",
    [{"max_peers": 1}, {"max_symbols": 0}, {"max_rounds": True}, {"max_symbol_size": "8"}],
)
def test_bad_bounds_raise_when_called(kwargs) -> None:
    with pytest.raises(InvalidArgument):
        params(**kwargs)


@given(scenarios(transports=("sim", "memory"), max_peers=3, max_rounds=2))
def test_scenarios_are_runnable_points(scenario) -> None:
    assert scenario.transport in ("sim", "memory")
    assert scenario.params.peers <= 3 and scenario.params.rounds <= 2
    assert scenario.expect == {}


@pytest.mark.parametrize("transports", [(), ("carrier-pigeon",)])
def test_scenarios_refuse_unknown_transports(transports) -> None:
    with pytest.raises(InvalidArgument):
        scenarios(transports=transports)
