"""Per-point summaries from hand-built trial records, and merging records from several workers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from rlnc_testbed.analysis.stats import wilson_interval
from rlnc_testbed.analysis.summary import PointSummary, SummaryError, merge, merge_trials, summarize
from rlnc_testbed.protocol.params import Params
from rlnc_testbed.protocol.records import RoundRecord, TrialRecord

PARAMS = Params(peers=10, symbols=20, redundancy=2.0, parents=3, rounds=3, trials=4)
SWEEP_FIELDS = {
    "scheme", "field", "keep", "redundancy", "q", "parents", "beta", "peers", "symbols",
    "rounds", "trials", "successes", "success_rate", "ci95", "survival",
    "repair_bytes_per_round", "mean_collect_bytes_per_round", "unjudged",
    "seed", "symbol_size", "systematic",
}  # fmt: skip


def make_trial(trial: int, survived: int, rounds: int = 3, *, duration: float = 0.5) -> TrialRecord:
    """Rounds 1..survived verify; one more fails unless all ``rounds`` verified."""
    records = []
    for r in range(1, min(survived + 1, rounds) + 1):
        ok = r <= survived
        records.append(
            RoundRecord(
                round=r,
                failed=r,
                newcomer=10 + r,
                parents=(1, 2, 3),
                newcomer_rank=4,
                global_rank=20 if ok else 19,
                decoded=ok,
                verified=ok,
                verdict="ok" if ok else "undecodable",
                repair_packets=6,
                repair_bytes=100 * r,
                collect_packets=40,
                collect_bytes=1000 + trial,
                duration=duration,
            )
        )
    return TrialRecord(trial=trial, seed=0, rounds=records)


def cut(record: TrialRecord, finish: str, error: str = "") -> TrialRecord:
    """``record`` with the reason it finished (as the round controller sets it)."""
    return replace(record, finish=finish, error=error)


def unjudged_mix() -> list[TrialRecord]:
    """Two judged trials, a setup-timeout before round 1, an error between rounds 1 and 2,
    and a legacy record with no rounds that does not say why."""
    return [
        cut(make_trial(0, 3), "max-round"),
        cut(make_trial(1, 1), "end"),
        TrialRecord(trial=2, seed=0, finish="setup-timeout", error="deadline passed in joining"),
        cut(make_trial(3, 1, rounds=1), "error", "round control: ValueError: boom"),
        TrialRecord(trial=4, seed=0),
    ]


def test_summary_fields_by_hand() -> None:
    trials = [make_trial(0, 0), make_trial(1, 1), make_trial(2, 3), make_trial(3, 3)]
    s = summarize(PARAMS, trials)
    assert (s.trials, s.successes, s.success_rate) == (4, 2, 0.5)
    assert s.ci95 == wilson_interval(2, 4)
    assert s.survival == (0.75, 0.5, 0.5)  # survived rounds 0, 1, 3, 3
    # rounds run: trial 0: r1; trial 1: r1, r2; trials 2, 3: r1..r3 -> 9 rounds
    assert s.repair_bytes_per_round == pytest.approx((100 + 300 + 600 + 600) / 9)
    collect = 1000 + 2 * 1001 + 3 * 1002 + 3 * 1003
    assert s.mean_collect_bytes_per_round == pytest.approx(collect / 9)
    assert (s.scheme, s.field, s.keep, s.parents, s.peers, s.symbols, s.rounds) == (
        "rlnc", 256, "distinct", 3, 10, 20, 3,
    )  # fmt: skip
    assert (s.redundancy, s.q, s.beta) == (2.0, 4, 4)


def test_to_dict_has_exactly_the_sweep_fields_and_round_trips() -> None:
    s = summarize(PARAMS, [make_trial(0, 3), make_trial(1, 2)])
    data = s.to_dict()
    assert set(data) == SWEEP_FIELDS
    assert isinstance(data["ci95"], list) and len(data["ci95"]) == 2
    assert isinstance(data["survival"], list) and len(data["survival"]) == PARAMS.rounds
    assert PointSummary.from_dict(json.loads(json.dumps(data))) == s


def test_a_summary_names_seed_symbol_size_and_systematic() -> None:
    params = PARAMS.with_(seed=12, symbol_size=33, systematic=True)
    s = summarize(params, [make_trial(0, 3)])
    assert (s.seed, s.symbol_size, s.systematic) == (12, 33, True)
    old = {k: v for k, v in s.to_dict().items() if k not in ("seed", "symbol_size", "systematic")}
    read = PointSummary.from_dict(old)  # written before they were recorded
    assert (read.seed, read.symbol_size, read.systematic) == (None, None, None)


def test_effective_values_when_q_and_beta_are_given() -> None:
    params = Params(peers=5, symbols=10, redundancy=None, q=3, beta=2, rounds=3)
    s = summarize(params, [make_trial(0, 3)])
    assert (s.redundancy, s.q, s.beta) == (1.5, 3, 2)


def test_merge_of_worker_groups_equals_summary_of_all() -> None:
    group_a = [make_trial(0, 3), make_trial(2, 1)]
    group_b = [make_trial(1, 0), make_trial(3, 3)]
    assert merge(PARAMS, group_a, group_b) == summarize(PARAMS, group_a + group_b)
    assert [t.trial for t in merge_trials(group_b, group_a)] == [0, 1, 2, 3]


def test_identical_duplicates_count_once() -> None:
    once = summarize(PARAMS, [make_trial(0, 3), make_trial(1, 0)])
    twice = merge(PARAMS, [make_trial(0, 3), make_trial(1, 0)], [make_trial(1, 0)])
    assert twice == once and twice.trials == 2


def test_duplicates_differing_only_in_measurements_keep_the_first() -> None:
    first, second = make_trial(0, 3, duration=0.5), make_trial(0, 3, duration=9.0)
    (kept,) = merge_trials([first], [second])
    assert kept is first


def test_conflicting_duplicates_are_refused() -> None:
    a = make_trial(1, 3)
    b = make_trial(1, 3)
    b.rounds[1] = replace(b.rounds[1], parents=(1, 2, 4))
    with pytest.raises(SummaryError, match=r"conflicting duplicates of trial 1: round 2 differs"):
        merge_trials([a], [b])
    with pytest.raises(SummaryError, match="trial 1: 3 rounds != 2 rounds"):
        merge_trials([a, make_trial(1, 1)])
    c = make_trial(1, 3)
    c.seed = 7
    with pytest.raises(SummaryError, match="trial 1: seed 0 != 7"):
        summarize(PARAMS, [a, c])


@pytest.mark.parametrize(
    ("trials", "match"),
    [
        ([], "no trial records"),
        ([make_trial(0, 4, rounds=4)], "trial 0 has 4 rounds but the point has rounds = 3"),
        ([make_trial(5, 2, rounds=2)], "trial 5 is incomplete: 2 verified rounds of 3 and no"),
        ([cut(make_trial(5, 2, rounds=2), "max-round")], "incomplete.*finish 'max-round'"),
        ([cut(make_trial(5, 2, rounds=2), "end")], "incomplete.*finish 'end'"),
        ([make_trial(-1, 3)], "trial index must be >= 0"),
    ],
)
def test_bad_trials_are_named(trials: list[TrialRecord], match: str) -> None:
    with pytest.raises(SummaryError, match=match):
        summarize(PARAMS, trials)


def test_rounds_after_a_failure_are_refused() -> None:
    bad = make_trial(2, 3)
    bad.rounds[0] = replace(bad.rounds[0], verified=False, verdict="corrupt")
    with pytest.raises(SummaryError, match="trial 2 went on after its first unverified round"):
        summarize(PARAMS, [bad])


def test_wrong_types_are_named() -> None:
    with pytest.raises(TypeError, match="params must be a Params"):
        summarize({"peers": 10}, [make_trial(0, 3)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected TrialRecord; got dict"):
        summarize(PARAMS, [make_trial(0, 3).to_dict()])  # type: ignore[list-item]


def test_from_dict_names_bad_keys() -> None:
    data = summarize(PARAMS, [make_trial(0, 3)]).to_dict()
    del data["survival"]
    data["colour"] = "red"
    with pytest.raises(SummaryError, match=r"missing \['survival'\], unknown \['colour'\]"):
        PointSummary.from_dict(data)


# -- trials that stopped without judging a round ----------------------------------------------


def test_unjudged_trials_count_as_failures_and_are_listed_apart() -> None:
    trials = unjudged_mix()
    assert [t.unjudged for t in trials] == ["", "", "setup-timeout", "error", "unknown"]
    assert [t.success for t in trials] == [True, False, False, False, False]
    assert [t.survived_rounds for t in trials] == [3, 1, 0, 1, 0]
    s = summarize(PARAMS, trials)
    # Every trial counts, only trial 0 succeeded: the Wilson interval is over all five.
    assert (s.trials, s.successes, s.success_rate) == (5, 1, 0.2)
    assert s.ci95 == wilson_interval(1, 5)
    # Survival counts unjudged trials as lost after the rounds they verified (0 without any).
    assert s.survival == (3 / 5, 1 / 5, 1 / 5)
    assert s.unjudged == (("error", 1), ("setup-timeout", 1), ("unknown", 1))
    assert s.unjudged_trials == 3
    # Traffic: means over the 3 + 2 + 1 rounds that ran; the trials with none add nothing.
    assert s.repair_bytes_per_round == pytest.approx((100 + 200 + 300 + 100 + 200 + 100) / 6)
    data = json.loads(json.dumps(s.to_dict()))
    assert data["unjudged"] == {"error": 1, "setup-timeout": 1, "unknown": 1}
    assert PointSummary.from_dict(data) == s


def test_a_point_where_no_trial_ran_a_round() -> None:
    trials = [TrialRecord(trial=t, seed=0, finish="signaling-lost") for t in range(3)]
    s = summarize(PARAMS, trials)
    assert (s.trials, s.successes, s.ci95) == (3, 0, wilson_interval(0, 3))
    assert s.survival == (0.0, 0.0, 0.0)
    assert (s.repair_bytes_per_round, s.mean_collect_bytes_per_round) == (0.0, 0.0)
    assert dict(s.unjudged) == {"signaling-lost": 3}


def test_judged_summaries_have_no_unjudged_entry() -> None:
    s = summarize(PARAMS, [make_trial(0, 3), make_trial(1, 0)])
    assert s.unjudged == () and s.to_dict()["unjudged"] == {}


def test_a_failed_round_then_an_error_finish_is_judged() -> None:
    # The round under way carries the verdict that ended the trial: it was judged (failed).
    trial = make_trial(0, 1)
    trial.rounds[-1] = replace(trial.rounds[-1], verdict="error", error="boom")
    trial = cut(trial, "error", "boom")
    assert trial.unjudged == "" and not trial.success
    assert summarize(PARAMS, [trial]).unjudged == ()


def test_an_older_summary_without_unjudged_still_loads() -> None:
    data = summarize(PARAMS, [make_trial(0, 3)]).to_dict()
    del data["unjudged"]
    assert PointSummary.from_dict(data).unjudged == ()


@pytest.mark.parametrize("bad", [[["error", 1]], {"error": 0}, {"error": True}, {3: 1}])
def test_bad_unjudged_counts_are_refused(bad: object) -> None:
    data = summarize(PARAMS, [make_trial(0, 3)]).to_dict()
    data["unjudged"] = bad
    with pytest.raises(SummaryError, match="unjudged must map reasons to counts"):
        PointSummary.from_dict(data)


def test_duplicates_that_ended_for_different_reasons_conflict() -> None:
    a = TrialRecord(trial=2, seed=0, finish="setup-timeout")
    b = TrialRecord(trial=2, seed=0, finish="error")
    with pytest.raises(SummaryError, match="trial 2: unjudged 'setup-timeout' != 'error'"):
        merge_trials([a], [b])
    (kept,) = merge_trials([a], [replace(a, error="measured differently")])
    assert kept is a


def test_trial_records_round_trip_with_and_without_the_new_keys() -> None:
    for record in unjudged_mix():
        data = json.loads(json.dumps(record.to_dict()))
        assert data["finish"] == record.finish and data["error"] == record.error
        assert data["success"] == record.success
        assert TrialRecord.from_dict(data) == record
    old = make_trial(0, 3).to_dict()
    del old["finish"], old["error"]  # a record written before trials said why they ended
    assert TrialRecord.from_dict(old) == make_trial(0, 3)
    with pytest.raises(TypeError, match="trial finish must be a string"):
        TrialRecord.from_dict({**old, "finish": 3})
