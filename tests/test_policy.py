"""PolicyCache (typedis.memory): fingerprints, the TD(0) update applied atomically on the server,
crystallization over a change log (Wilson lower bound, minimum events, Bloom filter) and the
temporal discovery of cycles by the chi-squared test, each checked by value against the
formulas of Popoto's recipe."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from _util import command_calls
from typedis import ChangeLog, ModelError, NotFound
from typedis._connection import Connection
from typedis.memory import (
    Cycle,
    PolicyEntry,
    PolicyOutcome,
    TemporalPeriod,
    acrystallization_handler,
    ainitialize_q_value,
    aupdate_q_value,
    compute_fingerprint,
    crystallization_handler,
    initialize_q_value,
    might_exist,
    temporal_discovery_handler,
    update_q_value,
    wilson_lower_bound,
)

SCRIPT_CALLS = {"fcall", "fcall_ro", "evalsha", "eval", "evalsha_ro", "eval_ro"}
FEATURES = {"task": "deploy", "env": "staging"}


def entry(agent: str = "agent-1") -> PolicyEntry:
    fp = compute_fingerprint(FEATURES)
    return PolicyEntry(
        agent_id=agent,
        state_fingerprint=fp,
        state_features=FEATURES,
        action_type="run_playbook",
        action_spec={"playbook": "deploy.yml"},
    ).save()


def test_defaults_by_value() -> None:
    assert PolicyEntry.MIN_EVENTS_FOR_CRYSTALLIZATION == 3
    assert PolicyEntry.WILSON_CI_THRESHOLD == 0.6
    assert PolicyEntry.TD_ALPHA == 0.1
    assert PolicyEntry.TD_GAMMA == 0.95
    assert PolicyEntry.CHI_SQUARED_P_THRESHOLD == 0.05
    assert PolicyEntry.INITIAL_CYCLE_AMPLITUDE == 0.5


def test_fingerprint_is_canonical() -> None:
    a = compute_fingerprint({"task": "deploy", "env": "staging"})
    assert a == compute_fingerprint({"env": "staging", "task": "deploy"})
    assert a != compute_fingerprint({"task": "deploy", "env": "prod"})
    assert len(a) == 16 and int(a, 16) >= 0
    with pytest.raises(ModelError, match="JSON"):
        compute_fingerprint({"when": datetime.now(UTC)})


def test_td_update_by_value() -> None:
    p = entry()
    assert initialize_q_value(p, initial_q=0.5) == 0.5
    td = update_q_value(p, reward=1.0)
    assert td == 1.0 + 0.95 * 0.0 - 0.5
    assert p.q_value == 0.5 + 0.1 * 0.5
    td2 = update_q_value(p, reward=0.0, next_max_q=0.8, alpha=0.5, gamma=0.9)
    assert td2 == pytest.approx(0.9 * 0.8 - 0.55)
    stored = PolicyEntry.load("agent-1", p.id)
    assert stored.q_value == pytest.approx(0.55 + 0.5 * td2)
    assert stored.visits == 2
    top = PolicyEntry.query.filter(PolicyEntry.agent_id == "agent-1").order_by(
        PolicyEntry.q_value.desc()
    )
    assert top.first() == stored
    assert PolicyEntry.check_indexes().total == 0


def test_td_refuses_bad_input_and_missing_entries() -> None:
    p = entry()
    with pytest.raises(ValidationError):
        update_q_value(p, reward=math.inf)
    with pytest.raises(ValidationError):
        update_q_value(p, reward=1.0, alpha=1.5)
    assert PolicyEntry.load("agent-1", p.id).visits == 0
    ghost = PolicyEntry(agent_id="agent-1", state_fingerprint="f", action_type="a")
    with pytest.raises(NotFound):
        update_q_value(ghost, reward=1.0)


def test_concurrent_td_updates_are_never_lost(conn: Connection) -> None:
    p = entry()
    initialize_q_value(p, 0.0)
    threads, per = 4, 25

    def work() -> None:
        for _ in range(per):
            update_q_value(p, reward=1.0)

    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stored = PolicyEntry.load("agent-1", p.id)
    n = threads * per
    assert stored.visits == n
    # reward 1, terminal: Q_n = 1 - (1 - alpha)^n from Q_0 = 0, whatever the interleaving
    assert stored.q_value == pytest.approx(1 - 0.9**n, rel=1e-12)


@given(st.integers(0, 60), st.integers(1, 60))
def test_wilson_lower_bound_formula(wins: int, extra: int) -> None:
    n = wins + extra if wins + extra > 0 else 1
    s = min(wins, n)
    z = 1.959963984540054
    p = s / n
    expected = (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
        1 + z * z / n
    )
    got = wilson_lower_bound(s, n)
    assert got == pytest.approx(expected)
    assert 0.0 <= got <= p + 1e-12


def test_wilson_edges() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(3, 3) == pytest.approx(0.43850, abs=1e-5)
    assert wilson_lower_bound(10, 10) > 0.6 > wilson_lower_bound(5, 5)


def outcome(success: bool, fp: str, action: str = "run", agent: str = "agent-1") -> None:
    PolicyOutcome(
        agent_id=agent,
        state_fingerprint=fp,
        action_type=action,
        success=success,
        action_spec={"n": 1},
    ).save()


def test_crystallization_over_the_change_log() -> None:
    log = ChangeLog(PolicyOutcome, "crystallizer", "w1", partition=("agent-1",))
    log.create_group()
    for _ in range(10):
        outcome(True, "good")
    for _ in range(5):
        outcome(True, "few")  # Wilson bound 0.57: below 0.6
    outcome(True, "two")
    outcome(True, "two")  # under the minimum of 3
    for i in range(12):
        outcome(i % 2 == 0, "mixed")
    batch = log.read(count=100)
    assert len(batch) == 29
    created = crystallization_handler(batch)
    log.ack(*batch)
    assert [(e.state_fingerprint, e.action_type) for e in created] == [("good", "run")]
    e = created[0]
    assert e.q_value == 1.0 and e.visits == 10
    assert e.confidence == pytest.approx(wilson_lower_bound(10, 10))
    assert e.action_spec == {"n": 1}
    assert might_exist(PolicyEntry.pair, "good run", partition="agent-1")
    # the same pair again: the Bloom filter skips it
    outcome(True, "good")
    assert crystallization_handler(log.read(count=100)) == []
    # counts come from the stored outcomes, not only the batch: "few" grows past the bound
    for _ in range(3):
        outcome(True, "few")
    later = crystallization_handler(log.read(count=100))
    assert [e.state_fingerprint for e in later] == ["few"]
    assert later[0].visits == 8


def days(start: datetime, step: timedelta, n: int) -> list[datetime]:
    return [start + step * k for k in range(n)]


def test_temporal_discovery_weekly() -> None:
    mondays = days(datetime(2026, 1, 5, 9, tzinfo=UTC), timedelta(weeks=1), 30)
    cycles = temporal_discovery_handler(mondays)
    weekly = [c for c in cycles if c.period == TemporalPeriod.WEEKLY]
    assert weekly == [Cycle(7.0, 0.5, 4.5)]
    # the phase: Monday noon, as Cycle counts days from the epoch (a Thursday)
    monday_noon = datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp() / 86400
    assert (monday_noon - weekly[0].phase) % 7 == pytest.approx(0.0)


def test_temporal_discovery_p_values_by_scipy() -> None:
    from scipy.stats import chisquare

    # every day for 10 weeks: uniform over weekdays, no weekly cycle
    daily = days(datetime(2026, 1, 5, tzinfo=UTC), timedelta(days=1), 70)
    assert [c for c in temporal_discovery_handler(daily) if c.period == 7.0] == []
    assert chisquare([10] * 7).pvalue == 1.0
    # January only, over several years: a yearly cycle peaking mid-January
    januaries = [datetime(y, 1, d, tzinfo=UTC) for y in range(2020, 2026) for d in (3, 10, 17)]
    yearly = [c for c in temporal_discovery_handler(januaries) if c.period == TemporalPeriod.YEARLY]
    assert yearly == [Cycle(TemporalPeriod.YEARLY, 0.5, TemporalPeriod.YEARLY / 24)]
    assert temporal_discovery_handler(januaries[:2]) == []  # fewer than the minimum


def test_crystallization_across_agents_async_and_empty(redis_client: redis.Redis) -> None:
    for agent in ("a", "b"):
        for _ in range(10):
            outcome(True, "fp", agent=agent)
    outcome(True, "other", agent="b")
    logs = [ChangeLog(PolicyOutcome, "c", "w", partition=(a,)) for a in ("a", "b")]
    for log in logs:
        log.create_group()
    batch = [change for log in logs for change in log.read(count=100)]
    assert crystallization_handler([]) == []
    before = command_calls(redis_client)
    created = asyncio.run(acrystallization_handler(batch))
    after = command_calls(redis_client)
    assert sorted((e.agent_id, e.state_fingerprint) for e in created) == [("a", "fp"), ("b", "fp")]
    stored = PolicyEntry.query.filter(PolicyEntry.agent_id == "b").all()
    assert [(e.state_fingerprint, e.visits) for e in stored] == [("fp", 10)]
    # three pairs: two Bloom probes (one per agent), six counts, one save per agent
    sent = sum(after[c] - before.get(c, 0) for c in after if c in SCRIPT_CALLS)
    assert sent == 2 + 6 + 2


def test_temporal_discovery_refuses_what_is_not_a_time() -> None:
    with pytest.raises(ModelError, match="datetimes"):
        temporal_discovery_handler([datetime.now(UTC), "2026-01-01"])  # type: ignore[list-item]
    naive = [datetime(2026, 1, 5, 9) + timedelta(weeks=k) for k in range(30)]
    assert Cycle(7.0, 0.5, 4.5) in temporal_discovery_handler(naive)  # naive: taken as UTC


def test_async_q_value_twins() -> None:
    p = entry()

    async def main() -> float:
        await ainitialize_q_value(p, 0.2)
        return await aupdate_q_value(p, reward=0.0, next_max_q=1.0)

    td = asyncio.run(main())
    assert td == 0.95 * 1.0 - 0.2
    assert PolicyEntry.load("agent-1", p.id).q_value == pytest.approx(0.2 + 0.1 * td)


def test_the_policy_models_are_registered_once_the_recipe_is_used() -> None:
    # a fresh interpreter: importing typedis registers none of the library's own models
    code = (
        "import typedis, typedis.memory as m\n"
        "assert typedis.models() == (), typedis.models()\n"
        "assert m.PolicyEntry.__name__ == 'PolicyEntry'\n"
        "print(' '.join(r.name for r in typedis.models()))\n"
        "try:\n    m.NoSuchName\nexcept AttributeError as e:\n    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == [
        "memory.PolicyEntry memory.PolicyOutcome",
        "module 'typedis.memory' has no attribute 'NoSuchName'",
    ]
