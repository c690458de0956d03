"""The prediction ledger (``typedis.memory``) against the real server.

The error metric and the summary statistics against plain-Python references (hypothesis), the
confidence feedback of high errors (same update as ``update_confidence``, same step), cleanup
with the record on delete, expiry and the sweep, movement on a key migration, the health check,
refusals that write nothing, async twins, and a stateful machine against an in-memory ledger.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from fractions import Fraction
from typing import Annotated, Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from typedis import Confidence, CorruptRecord, Key, Model, ModelError, NotFound, QueryError, field
from typedis._connection import Connection
from typedis.memory import (
    Defaults,
    ErrorStats,
    PredictionData,
    PredictionLedger,
    Predictions,
    aauto_resolve,
    aerror_summary,
    ahighest_errors,
    aprediction_data,
    arecord_prediction,
    aresolve_prediction,
    auto_resolve,
    error_stats,
    error_summary,
    get_confidence_data,
    highest_errors,
    prediction_data,
    prediction_error,
    record_prediction,
    resolve_prediction,
    update_confidence,
)
from typedis.memory._confidence import bayesian_update


class Guess(Model):
    id: Key[str]
    certainty: Confidence = field(default=0.5)
    predictions: Predictions = field(default=None)


class AgentGuess(Model, partition="agent"):
    agent: Key[str]
    id: Key[str]
    note: str = ""
    sure: Confidence = field(default=0.8)
    other: Confidence = field(default=0.5)
    predictions: Annotated[
        None, PredictionLedger(confidence="sure", threshold=0.4, low_signal=0.0)
    ] = None


class LgPlain(Model):
    id: Key[str]
    predictions: Predictions = field(default=None)


LEX, ERRORS = "{td:Guess}:p:predictions", "{td:Guess}:p:predictions:e"


def reference_error(predicted: dict[str, Any], actual: dict[str, Any]) -> float:
    """The documented metric, written out plainly."""
    terms: list[float] = []
    for name in sorted(predicted):
        p = predicted[name]
        if name not in actual:
            terms.append(1.0)
            continue
        a = actual[name]
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (p, a))
        if numbers:
            terms.append(
                min(1.0, abs(float(p) - float(a)) / max(abs(float(p)), abs(float(a)), 1.0))
            )
        elif type(p) is type(a) and p == a:
            terms.append(0.0)
        else:
            terms.append(1.0)
    total = 0.0
    for t in terms:  # left to right, as the server sums
        total += t
    return total / len(terms)


def reference_stats(errors: list[float]) -> tuple[int, float, float, float, float, float, float]:
    n = len(errors)
    ordered = sorted(errors)

    def rank(p: int) -> float:  # the smallest k (1-based) with k / n >= p / 100
        k = next(k for k in range(1, n + 1) if Fraction(k, n) >= Fraction(p, 100))
        return ordered[k - 1]

    mean = math.fsum(errors) / n
    variance = sum((Fraction(e) - Fraction(mean)) ** 2 for e in errors) / n
    return n, mean, math.sqrt(variance), rank(50), rank(90), rank(99), max(errors)


names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
values = st.one_of(
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=5),
    st.sampled_from([0, 1, 1.0, 0.0, "a", True, False]),
)
predictions = st.dictionaries(names, values, min_size=1, max_size=6)


# ---- the metric ------------------------------------------------------------------------------


def test_prediction_error_examples() -> None:
    assert prediction_error({"eta": 10, "mood": "calm"}, {"eta": 12, "mood": "calm"}) == 1 / 12
    assert prediction_error({"a": 1}, {}) == 1.0
    assert prediction_error({"a": 1}, {"a": 1, "b": 5}) == 0.0  # names only in actual: ignored
    assert prediction_error({"a": True}, {"a": 1}) == 1.0  # a bool is not a number
    assert prediction_error({"a": 1}, {"a": 1.0}) == 0.0
    assert prediction_error({"a": -5}, {"a": 5}) == 1.0  # each term is at most 1
    assert prediction_error({"a": 0.5}, {"a": 0.25}) == 0.25  # max(|p|, |a|, 1) = 1


@given(predicted=predictions, actual=st.dictionaries(names, values, max_size=6), data=st.data())
def test_prediction_error_matches_the_reference(
    predicted: dict[str, Any], actual: dict[str, Any], data: st.DataObject
) -> None:
    shared = data.draw(st.dictionaries(st.sampled_from(sorted(predicted)), values))
    actual = {**actual, **shared}
    error = prediction_error(predicted, actual)
    assert error == reference_error(predicted, actual)
    assert 0.0 <= error <= 1.0


@settings(max_examples=30)
@given(predicted=predictions, actual=st.dictionaries(names, values, max_size=6))
def test_the_server_computes_the_same_error(
    predicted: dict[str, Any], actual: dict[str, Any]
) -> None:
    g = Guess(id="g").save()
    record_prediction(g, Guess.predictions, predicted)
    actual = {**actual, **dict(list(predicted.items())[:1])}
    error = resolve_prediction(g, Guess.predictions, actual)
    assert error == reference_error(predicted, actual)
    data = prediction_data(g, Guess.predictions)
    assert data is not None
    assert data.predicted == predicted and data.actual == actual and data.error == error
    g.delete()


# ---- statistics ------------------------------------------------------------------------------


@given(st.lists(st.floats(0, 1), min_size=1, max_size=200))
def test_error_stats_match_the_reference(errors: list[float]) -> None:
    stats = error_stats(errors)
    n, mean, stddev, p50, p90, p99, top = reference_stats(errors)
    assert (stats.count, stats.mean, stats.p50, stats.p90, stats.p99, stats.max) == (
        n,
        mean,
        p50,
        p90,
        p99,
        top,
    )
    assert math.isclose(stats.stddev, stddev, rel_tol=1e-9, abs_tol=1e-12)


def test_error_stats_of_nothing_and_percentile_edges() -> None:
    assert error_stats([]) == ErrorStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ten = [i / 10 for i in range(10)]  # p90 of 10 values is the 9th, p99 the 10th
    assert (error_stats(ten).p50, error_stats(ten).p90, error_stats(ten).p99) == (0.4, 0.8, 0.9)


@settings(max_examples=15)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=1, max_size=30))
def test_error_summary_is_the_statistics_of_the_resolved_errors(
    pairs: list[tuple[int, int]],
) -> None:
    errors: list[float] = []
    for i, (p, a) in enumerate(pairs):
        g = Guess(id=f"g{i}").save()
        record_prediction(g, Guess.predictions, {"v": p}, key=f"k{i % 3}")
        errors.append(resolve_prediction(g, Guess.predictions, {"v": a}, key=f"k{i % 3}"))
    Guess(id="open").save()
    record_prediction(Guess(id="open"), Guess.predictions, {"v": 1})  # open: not counted
    summary = error_summary(Guess.predictions)
    assert summary.overall == error_stats(errors)
    assert summary.groups == {}
    by_key = error_summary(Guess.predictions, group_by="key")
    assert by_key.groups == {
        k: error_stats([e for i, e in enumerate(errors) if f"k{i % 3}" == k])
        for k in sorted({f"k{i % 3}" for i in range(len(pairs))})
    }
    assert error_summary(Guess.predictions, limit=1).overall.count == 1
    Guess.delete_all()


def test_group_by_time_and_callable() -> None:
    g = Guess(id="g").save()
    record_prediction(g, Guess.predictions, {"v": 1})
    resolve_prediction(g, Guess.predictions, {"v": 3})
    data = prediction_data(g, Guess.predictions)
    assert data is not None and data.resolved_at is not None
    at = data.resolved_at
    assert list(error_summary(Guess.predictions, group_by="hour").groups) == [f"{at.hour:02d}"]
    assert list(error_summary(Guess.predictions, group_by="day").groups) == [at.date().isoformat()]
    assert list(error_summary(Guess.predictions, group_by="weekday").groups) == [at.strftime("%A")]
    custom = error_summary(Guess.predictions, group_by=lambda d: d.record_id.upper())
    assert custom.groups["G"].count == 1
    with pytest.raises(ModelError, match="group_by"):
        error_summary(Guess.predictions, group_by="month")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="group_by returned"):
        error_summary(Guess.predictions, group_by=lambda d: 1)  # type: ignore[arg-type,return-value]


# ---- recording, resolving, reading -----------------------------------------------------------


def test_record_resolve_and_read() -> None:
    g = Guess(id="g").save()
    assert prediction_data(g, Guess.predictions) is None
    at = record_prediction(g, Guess.predictions, {"eta": 10, "mood": "calm"})
    data = prediction_data(g, Guess.predictions)
    assert data == PredictionData(
        "g", "default", {"eta": 10, "mood": "calm"}, at, False, None, None, None, None
    )
    assert resolve_prediction(g, Guess.predictions, {"eta": 12, "mood": "calm"}) == 1 / 12
    data = prediction_data(g, Guess.predictions)
    assert data is not None and data.resolved and data.resolution_mode == "actual"
    assert data.resolved_at is not None and data.resolved_at >= at
    with pytest.raises(NotFound, match="already resolved"):
        resolve_prediction(g, Guess.predictions, {"eta": 12})
    with pytest.raises(NotFound, match="no prediction under key 'other'"):
        resolve_prediction(g, Guess.predictions, {"eta": 12}, key="other")
    # recording again under the key replaces the prediction, and its error entry
    record_prediction(g, Guess.predictions, {"eta": 5})
    assert highest_errors(Guess.predictions) == []
    assert Guess.check_indexes()["total"] == 0


def test_highest_errors_order_limit_and_partitions() -> None:
    for i, actual in enumerate([10, 30, 20]):
        g = AgentGuess(agent="a", id=str(i)).save()
        record_prediction(g, AgentGuess.predictions, {"v": 10})
        resolve_prediction(g, AgentGuess.predictions, {"v": actual})
    top = highest_errors(AgentGuess.predictions, partition="a", limit=2)
    assert [(r.record.id, r.key, r.error) for r in top] == [
        ("1", "default", 20 / 30),
        ("2", "default", 0.5),
    ]
    assert highest_errors(AgentGuess.predictions, partition="b") == []
    with pytest.raises(QueryError, match="partition"):
        highest_errors(AgentGuess.predictions)
    with pytest.raises(QueryError, match="not partitioned"):
        highest_errors(Guess.predictions, partition="a")
    with pytest.raises(ModelError, match="limit"):
        highest_errors(AgentGuess.predictions, partition="a", limit=0)


def test_auto_resolve_uses_the_outcome_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    g = LgPlain(id="g").save()
    assert auto_resolve(g, LgPlain.predictions, "acted") is None  # nothing to resolve
    for key in ("acted", "used", "dismissed", "contradicted", "deferred"):
        record_prediction(g, LgPlain.predictions, {"x": 1}, key=key)
    assert auto_resolve(g, LgPlain.predictions, "acted", key="acted") == 0.1
    assert auto_resolve(g, LgPlain.predictions, "used", key="used") == 0.3
    assert auto_resolve(g, LgPlain.predictions, "dismissed", key="dismissed") == 0.5
    monkeypatch.setattr(Defaults, "PL_AUTO_RESOLVE_CONTRADICTED", 0.95)  # read at the call
    assert auto_resolve(g, LgPlain.predictions, "contradicted", key="contradicted") == 0.95
    assert auto_resolve(g, LgPlain.predictions, "deferred", key="deferred") is None
    data = prediction_data(g, LgPlain.predictions, key="deferred")
    assert data is not None and not data.resolved
    data = prediction_data(g, LgPlain.predictions, key="acted")
    assert data is not None and data.resolution_mode == "acted" and data.actual is None
    assert auto_resolve(g, LgPlain.predictions, "acted", key="acted") is None  # already resolved
    with pytest.raises(ModelError, match="outcome"):
        auto_resolve(g, LgPlain.predictions, "ignored")  # type: ignore[arg-type]


# ---- confidence feedback ---------------------------------------------------------------------


def test_high_errors_lower_confidence_by_the_bayesian_update() -> None:
    g = Guess(id="g").save()
    update_confidence(g, Guess.certainty, 0.9)
    record_prediction(g, Guess.predictions, {"x": 1}, key="low")
    record_prediction(g, Guess.predictions, {"x": 1}, key="high")
    assert resolve_prediction(g, Guess.predictions, {"x": 1.5}, key="low") == 0.5 / 1.5
    assert get_confidence_data(g, Guess.certainty).evidence_count == 1  # below: unchanged
    assert auto_resolve(g, Guess.predictions, "contradicted", key="high") == 0.9
    expected = bayesian_update(0.9, Defaults.PL_CONFIDENCE_LOW_SIGNAL, 1)
    assert g.certainty == expected
    data = get_confidence_data(g, Guess.certainty)
    assert (data.confidence, data.contradictions, data.corroborations) == (expected, 1, 1)
    assert Guess.query.filter(Guess.certainty <= expected).count() == 1  # the index moved
    # an error exactly at the threshold (0.7) does not exceed it
    record_prediction(g, Guess.predictions, {"x": 10}, key="edge")
    assert resolve_prediction(g, Guess.predictions, {"x": 3}, key="edge") == 0.7
    assert get_confidence_data(g, Guess.certainty).evidence_count == 2
    assert Guess.check_indexes()["total"] == 0


def test_the_ledger_names_its_confidence_field_and_options() -> None:
    g = AgentGuess(agent="a", id="1").save()
    record_prediction(g, AgentGuess.predictions, {"v": 1})
    assert resolve_prediction(g, AgentGuess.predictions, {"v": 2}) == 0.5  # > 0.4
    assert g.sure == bayesian_update(0.8, 0.0, 0)
    assert get_confidence_data(g, AgentGuess.other).evidence_count == 0


def test_a_model_without_confidence_gets_no_feedback() -> None:
    g = LgPlain(id="g").save()
    record_prediction(g, LgPlain.predictions, {"x": "a"})
    assert resolve_prediction(g, LgPlain.predictions, {"x": "b"}) == 1.0


def test_ambiguous_or_wrong_confidence_fields_are_refused() -> None:
    class Two(Model):
        id: Key[str]
        a: Confidence = field(default=0.5)
        b: Confidence = field(default=0.5)
        predictions: Predictions = field(default=None)

    class Wrong(Model):
        id: Key[str]
        predictions: Annotated[None, PredictionLedger(confidence="nope")] = None

    two, wrong = Two(id="t").save(), Wrong(id="w").save()
    record_prediction(two, Two.predictions, {"x": 1})
    with pytest.raises(ModelError, match="several Confidence fields"):
        resolve_prediction(two, Two.predictions, {"x": 1})
    with pytest.raises(ModelError, match="does not name a Confidence field"):
        auto_resolve(wrong, Wrong.predictions, "acted")
    data = prediction_data(two, Two.predictions)
    assert data is not None and not data.resolved


def test_bad_ledger_options_are_refused_at_class_creation() -> None:
    with pytest.raises(ModelError, match=r"threshold=\.\.\.\) must be in \[0, 1\]"):

        class Bad(Model):
            id: Key[str]
            predictions: Annotated[None, PredictionLedger(threshold=2.0)] = None

    with pytest.raises(ModelError, match="holds no value"):

        class Valued(Model):
            id: Key[str]
            predictions: Annotated[int, PredictionLedger()] = 0


# ---- refusals write nothing ------------------------------------------------------------------


def test_bad_arguments_write_nothing(redis_client: redis.Redis) -> None:
    g = Guess(id="g").save()
    before = sorted(redis_client.keys("*"))
    rec, res, P = record_prediction, resolve_prediction, Guess.predictions
    bad_calls = [
        (lambda: rec(g, P, {}), ModelError, "predicted is empty"),
        (
            lambda: rec(g, P, {"a": [1]}),
            ModelError,
            r"predicted\['a'\]",
        ),
        (lambda: rec(g, P, {"a": math.nan}), ModelError, "finite"),
        (lambda: rec(g, P, {"a": 2**60}), ModelError, "2\\*\\*53"),
        (
            lambda: rec(g, P, {1: 1}),
            ModelError,
            "a name of predicted",
        ),
        (
            lambda: rec(g, P, [1]),
            ModelError,
            "predicted must be a dict",
        ),
        (lambda: rec(g, P, {"a": 1}, key=""), ModelError, "key"),
        (lambda: rec(g, P, {"a": 1}, key="a\0b"), ModelError, "NUL"),
        (lambda: rec(g, P, {"a": "\ud800"}), ModelError, "Unicode"),
        (lambda: rec(g, Guess.certainty, {"a": 1}), ModelError, "PredictionLedger"),
        (
            lambda: rec(LgPlain(id="g"), P, {"a": 1}),
            ModelError,
            "Guess record",
        ),
        (
            lambda: rec(Guess(id="nope"), P, {"a": 1}),
            NotFound,
            "no live",
        ),
        (lambda: res(g, P, {"a": 1}), NotFound, "no prediction"),
        (lambda: res(g, P, {"a": None}), ModelError, "actual"),
    ]
    for call, error, match in bad_calls:
        with pytest.raises(error, match=match):
            call()  # type: ignore[no-untyped-call]
        assert sorted(redis_client.keys("*")) == before


def test_a_foreign_key_is_a_typedis_error(redis_client: redis.Redis) -> None:
    g = Guess(id="g").save()
    redis_client.set(LEX, "not a zset")
    with pytest.raises(CorruptRecord):
        record_prediction(g, Guess.predictions, {"a": 1})
    with pytest.raises(CorruptRecord):
        prediction_data(g, Guess.predictions)
    redis_client.delete(LEX)
    redis_client.zadd(LEX, {"g\0default\0garbage": 0})
    with pytest.raises(CorruptRecord, match="not written by typedis"):
        prediction_data(g, Guess.predictions)
    assert Guess.check_indexes()["ledger"] == 1


# ---- cleanup and movement --------------------------------------------------------------------


def test_delete_removes_the_predictions(redis_client: redis.Redis) -> None:
    a, b = Guess(id="a").save(), Guess(id="b").save()
    for g in (a, b):
        record_prediction(g, Guess.predictions, {"x": 1})
        record_prediction(g, Guess.predictions, {"x": 1}, key="k")
        resolve_prediction(g, Guess.predictions, {"x": 2})
    a.delete()
    assert {m.split(b"\0")[0] for m in redis_client.zrange(LEX, 0, -1)} == {b"b"}
    assert redis_client.zrange(ERRORS, 0, -1) == [b"b\0default"]
    assert Guess.check_indexes()["total"] == 0
    b.delete()
    assert redis_client.exists(LEX, ERRORS) == 0


def test_expiry_hides_and_the_sweep_removes_predictions(redis_client: redis.Redis) -> None:
    a, b = (AgentGuess(agent="x", id=i).save() for i in "ab")
    for g in (a, b):
        record_prediction(g, AgentGuess.predictions, {"v": 1})
        resolve_prediction(g, AgentGuess.predictions, {"v": 3})
    b.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))
    assert [r.record.id for r in highest_errors(AgentGuess.predictions, partition="x")] == ["a"]
    assert error_summary(AgentGuess.predictions, partition="x").overall.count == 1
    with pytest.raises(NotFound):
        prediction_data(b, AgentGuess.predictions)
    assert AgentGuess.check_indexes()["total"] == 0
    assert AgentGuess.sweep_expired() == 1
    assert AgentGuess.check_indexes()["total"] == 0
    assert len(redis_client.zrange("{td:AgentGuess:x}:p:predictions", 0, -1)) == 1


def test_a_moved_record_takes_its_predictions_along() -> None:
    g = AgentGuess(agent="x", id="1").save()
    record_prediction(g, AgentGuess.predictions, {"v": 1})
    record_prediction(g, AgentGuess.predictions, {"v": 1}, key="open")
    error = resolve_prediction(g, AgentGuess.predictions, {"v": 4})
    before = prediction_data(g, AgentGuess.predictions)
    g.agent = "y"
    g.save(migrate_key=True)
    moved = prediction_data(g, AgentGuess.predictions)
    assert moved is not None and before is not None
    assert moved.error == error and moved.predicted == before.predicted
    assert moved.recorded_at == before.recorded_at and moved.record_id != before.record_id
    assert [r.error for r in highest_errors(AgentGuess.predictions, partition="y")] == [error]
    assert highest_errors(AgentGuess.predictions, partition="x") == []
    opened = prediction_data(g, AgentGuess.predictions, key="open")
    assert opened is not None and not opened.resolved
    assert AgentGuess.check_indexes()["total"] == 0
    # a save that keeps the key keeps the predictions
    g.note = "changed"
    g.save()
    assert prediction_data(g, AgentGuess.predictions) == moved


def test_a_save_over_an_expired_record_starts_without_predictions() -> None:
    g = Guess(id="g").save()
    record_prediction(g, Guess.predictions, {"x": 1})
    g.save(expire_at=datetime(2000, 1, 1, tzinfo=UTC))
    fresh = Guess(id="g").save(ttl=None)
    assert prediction_data(fresh, Guess.predictions) is None
    assert Guess.check_indexes()["total"] == 0


# ---- async -----------------------------------------------------------------------------------


def test_async_twins(conn: Connection) -> None:
    async def main() -> None:
        g = await Guess(id="g").asave()
        at = await arecord_prediction(g, Guess.predictions, {"v": 2})
        assert (await aprediction_data(g, Guess.predictions)) is not None
        assert await aresolve_prediction(g, Guess.predictions, {"v": 4}) == 0.5
        await arecord_prediction(g, Guess.predictions, {"v": 2}, key="k")
        assert await aauto_resolve(g, Guess.predictions, "contradicted", key="k") == 0.9
        top = await ahighest_errors(Guess.predictions)
        assert [(r.key, r.error) for r in top] == [("k", 0.9), ("default", 0.5)]
        summary = await aerror_summary(Guess.predictions, group_by="key")
        assert summary.overall.count == 2 and set(summary.groups) == {"default", "k"}
        data = await aprediction_data(g, Guess.predictions, key="k")
        assert data is not None and data.recorded_at >= at
        await conn.aclose()

    asyncio.run(main())


# ---- stateful --------------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    """Random records, predictions, resolutions and deletes against an in-memory ledger."""

    def __init__(self) -> None:
        super().__init__()
        Guess.delete_all()
        self.records: set[str] = set()
        # (record, key) -> (predicted, error or None)
        self.ledger: dict[tuple[str, str], tuple[dict[str, Any], float | None]] = {}

    @rule(rid=st.sampled_from("abc"))
    def save(self, rid: str) -> None:
        Guess(id=rid).save(update_fields=None)
        self.records.add(rid)

    @rule(rid=st.sampled_from("abc"), key=st.sampled_from(["default", "k"]), p=st.integers(-9, 9))
    def record(self, rid: str, key: str, p: int) -> None:
        if rid not in self.records:
            with pytest.raises(NotFound):
                record_prediction(Guess(id=rid), Guess.predictions, {"v": p}, key=key)
            return
        record_prediction(Guess(id=rid), Guess.predictions, {"v": p}, key=key)
        self.ledger[(rid, key)] = ({"v": p}, None)

    @rule(rid=st.sampled_from("abc"), key=st.sampled_from(["default", "k"]), a=st.integers(-9, 9))
    def resolve(self, rid: str, key: str, a: int) -> None:
        entry = self.ledger.get((rid, key))
        if rid not in self.records or entry is None or entry[1] is not None:
            with pytest.raises(NotFound):
                resolve_prediction(Guess(id=rid), Guess.predictions, {"v": a}, key=key)
            return
        error = resolve_prediction(Guess(id=rid), Guess.predictions, {"v": a}, key=key)
        assert error == reference_error(entry[0], {"v": a})
        self.ledger[(rid, key)] = (entry[0], error)

    @rule(rid=st.sampled_from("abc"))
    def delete(self, rid: str) -> None:
        Guess(id=rid).delete()
        self.records.discard(rid)
        self.ledger = {k: v for k, v in self.ledger.items() if k[0] != rid}

    @invariant()
    def matches(self) -> None:
        for rid in self.records:
            for key in ("default", "k"):
                data = prediction_data(Guess(id=rid), Guess.predictions, key=key)
                entry = self.ledger.get((rid, key))
                if entry is None:
                    assert data is None
                else:
                    assert data is not None
                    assert (data.predicted, data.error) == entry
        errors = sorted(e for _, e in self.ledger.values() if e is not None)
        assert error_summary(Guess.predictions).overall == error_stats(errors)
        assert Guess.check_indexes()["total"] == 0


def test_ledger_state_machine() -> None:
    run_state_machine_as_test(
        LedgerMachine, settings=settings(max_examples=15, stateful_step_count=20, deadline=None)
    )


def test_check_indexes_counts_ledger_faults(redis_client: redis.Redis) -> None:
    g = Guess(id="g").save()
    record_prediction(g, Guess.predictions, {"x": 1})
    resolve_prediction(g, Guess.predictions, {"x": 2})
    assert Guess.check_indexes()["total"] == 0
    redis_client.zadd(ERRORS, {"g\0default": 0.25})  # the error entry disagrees
    assert Guess.check_indexes()["ledger"] == 2
    redis_client.zadd(ERRORS, {"g\0default": 0.5})
    redis_client.zadd(ERRORS, {"g\0stray": 0.5})  # an error without its prediction
    assert Guess.check_indexes()["ledger"] == 1
    redis_client.zrem(ERRORS, "g\0stray")
    member = redis_client.zrange(LEX, 0, -1)[0]
    redis_client.zadd(LEX, {member.replace(b"g\0", b"ghost\0", 1): 0})  # of no stored record
    assert Guess.check_indexes()["ledger"] == 2  # the orphan, and its missing error entry


def test_a_bad_stored_confidence_refuses_the_resolution(redis_client: redis.Redis) -> None:
    g = Guess(id="g").save()
    record_prediction(g, Guess.predictions, {"x": "a"})
    redis_client.hset("{td:Guess}:r:g", "certainty", "7")
    before = {k: redis_client.dump(k) for k in redis_client.keys("*")}
    with pytest.raises(ModelError, match="stored confidence"):
        resolve_prediction(g, Guess.predictions, {"x": "b"})  # error 1.0: feedback needed
    assert {k: redis_client.dump(k) for k in redis_client.keys("*")} == before
