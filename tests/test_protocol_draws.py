"""The specified draws: the Python streams equal a model written from the specification text.

The model (``tests/spec_model.py``) re-implements docs/protocol.md §6 in plain Python
integers - Philox4x64-10 included - sharing nothing with :mod:`rlnc_testbed.protocol.draws`
(which uses numpy's Philox as its bit source and its own below/sample/elements).
``tests/vectors/draws.json`` must be exactly what the generator script makes from the code
today.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_model import Stream, key

from rlnc_testbed.protocol.draws import DrawStream, Role, stream_for, stream_key

VECTORS = Path(__file__).parent / "vectors"


keys = st.tuples(
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**40),
    st.integers(0, 10**6),
    st.sampled_from(list(Role)),
    st.integers(0, 10**4),
)


# -- code vs model ---------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(where=keys)
def test_key_and_words_equal_the_model(where: tuple[int, int, int, Role, int]) -> None:
    lo, hi = stream_key(*where)
    assert (lo, hi) == key(*where)
    model = Stream.from_key((lo, hi))
    assert [int(w) for w in stream_for(*where).words(9)] == [model.word() for _ in range(9)]


@settings(deadline=None, max_examples=80)
@given(
    where=keys,
    calls=st.lists(
        st.one_of(
            st.tuples(st.just("below"), st.integers(1, 2**64 - 1)),
            st.tuples(st.just("below"), st.integers(1, 50)),
            st.tuples(st.just("below"), st.integers(2**63, 2**63 + 5)),
            st.tuples(
                st.just("sample"),
                st.integers(0, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
            ),
            st.tuples(
                st.just("elements"), st.tuples(st.sampled_from([2, 256]), st.integers(0, 150))
            ),
        ),
        max_size=8,
    ),
)
def test_every_primitive_equals_the_model_in_any_sequence(
    where: tuple[int, int, int, Role, int], calls: list[tuple[str, Any]]
) -> None:
    stream, model = stream_for(*where), Stream.from_key(stream_key(*where))
    for kind, arg in calls:
        if kind == "below":
            assert stream.below(arg) == model.below(arg)
        elif kind == "sample":
            assert stream.sample(*arg) == model.sample(*arg)
        else:
            assert stream.elements(*arg).tolist() == model.elements(*arg)
        assert stream.used == model.used


def test_below_rejects_where_the_spec_rejects() -> None:
    # n = 2**63 + 1 rejects about half of all words: the threshold is 2**63 - 1.
    stream = stream_for(0, 0, 1, Role.SERVER)
    values = [stream.below(2**63 + 1) for _ in range(200)]
    assert 250 < stream.used < 550, stream.used
    assert all(0 <= v <= 2**63 for v in values)


def test_below_is_uniform_on_a_fixed_stream() -> None:
    stream = stream_for(1, 2, 3, Role.NEWCOMER)
    counts = np.bincount([stream.below(6) for _ in range(60_000)], minlength=6)
    chi2 = float(((counts - 10_000) ** 2 / 10_000).sum())
    assert chi2 < 20.5, counts  # 5 degrees of freedom: p < 0.001 above this


def test_elements_shape_and_fresh_words() -> None:
    stream = stream_for(0, 0, 0, Role.ENGINE)
    matrix = stream.elements(256, (3, 5))
    assert matrix.shape == (3, 5) and matrix.dtype == np.uint8
    assert stream.used == 2  # 15 bytes: two words, the last 1 byte of word 2 unused
    bits = stream.elements(2, (2, 40))
    assert set(np.unique(bits)) <= {0, 1} and stream.used == 4


def test_bad_arguments_name_the_problem() -> None:
    stream = stream_for(0, 0, 0, Role.ENGINE)
    with pytest.raises(ValueError, match="below"):
        stream.below(0)
    with pytest.raises(ValueError, match="0 <= m <= n"):
        stream.sample(3, 4)
    with pytest.raises(ValueError, match="field must be 2 or 256"):
        stream.elements(3, 4)
    with pytest.raises(ValueError, match="seed must be in"):
        stream_key(-1, 0, 0, Role.ENGINE)
    with pytest.raises(TypeError, match="trial must be an int"):
        stream_key(0, 1.5, 0, Role.ENGINE)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        stream_key(0, 0, 0, 9)  # type: ignore[arg-type]


# -- the vector file -----------------------------------------------------------------------------


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vector_file_is_what_the_code_makes_today() -> None:
    on_disk = json.loads((VECTORS / "draws.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(_load_generator().build()))


def _key_of(entry: dict[str, Any]) -> tuple[int, int]:
    k = entry["key"]
    return key(int(k["seed"], 16), int(k["trial"], 16), k["round"], k["role"], k["index"])


def test_vector_file_agrees_with_the_model() -> None:
    vectors = json.loads((VECTORS / "draws.json").read_text(encoding="utf-8"))
    for entry in vectors["streams"]:
        model = Stream.from_key(_key_of(entry))
        assert [int(x, 16) for x in entry["philox_key"]] == list(model.key)
        assert [int(w, 16) for w in entry["words"]] == [model.word() for _ in entry["words"]]
    for entry in vectors["below"]:
        model = Stream.from_key(_key_of(entry))
        got = [model.below(int(n, 16)) for n in entry["bounds"]]
        assert got == [int(v, 16) for v in entry["values"]]
        assert model.used == entry["words_used"] > len(entry["bounds"])  # a rejection in there
    for entry in vectors["sample"]:
        model = Stream.from_key(_key_of(entry))
        assert model.sample(entry["n"], entry["m"]) == entry["values"]
        assert model.used == entry["words_used"]
    for entry in vectors["elements"]:
        model = Stream.from_key(_key_of(entry))
        assert model.elements(entry["field"], entry["count"]) == entry["values"]
        assert model.used == entry["words_used"]
    assert isinstance(DrawStream(_key_of(vectors["streams"][0])).words(1)[0], np.uint64)
