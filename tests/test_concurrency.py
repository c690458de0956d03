"""Many processes writing at once, against the real server.

The children are started with the 'spawn' context: each one imports this module (for the
models and the worker functions), connects with the parent's URL and reports through a queue.
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from multiprocessing.synchronize import Barrier
from typing import Any

import redis

import typedis
from typedis import Key, Model, Sorted, Unique, UniqueViolation, field
from typedis._connection import Connection

PROCESSES = 8
INCREMENTS = 500
ROUNDS = 5
CHILD_TIMEOUT = 60.0


class ConcCounter(Model):
    name: Key[str]
    visits: int = 0
    score: Sorted[int] = field(default=0)


class ConcAccount(Model):
    handle: Key[str]
    email: Unique[str]


# -- children ------------------------------------------------------------------------------


def _increment_worker(url: str, name: str, barrier: Barrier, results: Any) -> None:
    try:
        typedis.connect(url)
        record = ConcCounter.load(name)
        barrier.wait(CHILD_TIMEOUT)
        for _ in range(INCREMENTS):
            record.atomic_increment("visits", 1)
            record.atomic_increment("score", 1)
        results.put(("ok", None))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def _unique_worker(url: str, worker: int, barrier: Barrier, results: Any) -> None:
    try:
        typedis.connect(url)
        for round_ in range(ROUNDS):
            account = ConcAccount(handle=f"r{round_}-w{worker}", email=f"shared-{round_}@x.io")
            barrier.wait(CHILD_TIMEOUT)
            try:
                account.save()
            except UniqueViolation:
                results.put((round_, worker, "lost"))
            else:
                results.put((round_, worker, "won"))
        results.put((None, worker, "done"))
    except BaseException:
        results.put((None, worker, "error: " + traceback.format_exc()))


def _run_children(target: Any, args_for: Any, expected_messages: int) -> list[Any]:
    """Start PROCESSES spawned children, collect `expected_messages` queue items, join them."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    children = [
        ctx.Process(target=target, args=(*args_for(i), barrier, results), daemon=True)
        for i in range(PROCESSES)
    ]
    for child in children:
        child.start()
    messages: list[Any] = []
    try:
        for _ in range(expected_messages):
            messages.append(results.get(timeout=CHILD_TIMEOUT))
    except queue.Empty:
        pass
    finally:
        for child in children:
            child.join(10)
            if child.is_alive():
                child.terminate()
                child.join(5)
        results.close()
        results.join_thread()
    return messages


# -- tests ---------------------------------------------------------------------------------


def test_parallel_increments_sum_exactly(conn: Connection, redis_client: redis.Redis) -> None:
    counter = ConcCounter(name="hits").save()
    messages = _run_children(
        _increment_worker, lambda _i: (conn.url, "hits"), expected_messages=PROCESSES
    )
    errors = [detail for status, detail in messages if status != "ok"]
    assert not errors, errors[0]
    assert len(messages) == PROCESSES

    total = PROCESSES * INCREMENTS
    stored = ConcCounter.load("hits")
    assert stored.visits == total
    assert stored.score == total
    assert counter.refresh().visits == total
    tag = "{td:ConcCounter}"
    assert redis_client.hget(f"{tag}:r:hits", "visits") == str(total).encode()
    assert redis_client.hget(f"{tag}:r:hits", "score") == str(total).encode()
    assert redis_client.zscore(f"{tag}:z:score", "hits") == float(total)
    assert redis_client.zcard(f"{tag}:z:score") == 1
    assert redis_client.smembers(f"{tag}:all") == {b"hits"}


def test_racing_unique_claims_leave_one_winner(conn: Connection, redis_client: redis.Redis) -> None:
    messages = _run_children(
        _unique_worker, lambda i: (conn.url, i), expected_messages=PROCESSES * (ROUNDS + 1)
    )
    errors = [outcome for _, _, outcome in messages if outcome.startswith("error")]
    assert not errors, errors[0]
    assert len(messages) == PROCESSES * (ROUNDS + 1)

    tag = "{td:ConcAccount}"
    winners: set[bytes] = set()
    for round_ in range(ROUNDS):
        outcomes = {w: o for r, w, o in messages if r == round_}
        assert len(outcomes) == PROCESSES
        won = [w for w, o in outcomes.items() if o == "won"]
        assert len(won) == 1, f"round {round_}: winners {won}"
        assert sorted(o for o in outcomes.values() if o != "won") == ["lost"] * (PROCESSES - 1)
        winner_id = f"r{round_}-w{won[0]}"
        winners.add(winner_id.encode())
        assert redis_client.hget(f"{tag}:u:email", f"shared-{round_}@x.io") == winner_id.encode()
        stored = ConcAccount.load(winner_id)
        assert stored.email == f"shared-{round_}@x.io"
        for loser in range(PROCESSES):
            if loser != won[0]:
                assert not redis_client.exists(f"{tag}:r:r{round_}-w{loser}")

    assert redis_client.smembers(f"{tag}:all") == winners
    assert redis_client.hlen(f"{tag}:u:email") == ROUNDS
    record_keys = {k for k in redis_client.scan_iter(match=f"{tag}:r:*", count=1000)}
    assert record_keys == {f"{tag}:r:".encode() + w for w in winners}
    # records, the ids set, the unique hash, and the prefix indexes of handle and email
    assert redis_client.dbsize() == ROUNDS + 4
    assert redis_client.zcard(f"{tag}:l:email") == ROUNDS
