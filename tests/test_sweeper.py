"""The sweeper: expired records of registered models removed in a thread or an asyncio task."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable

import pytest
import redis

import typedis
from typedis import Key, Model, _sweeper


class SwNote(Model, partition="owner", ttl=3600):
    owner: Key[str]
    name: Key[str]


class SwShop(Model):
    name: Key[str]


class SwBase(Model, abstract=True):
    note: str = ""


def until(done: Callable[[], bool]) -> None:
    """Wait for ``done()`` (another thread's work); fails after a minute, never on speed."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "the sweeper never got there"
        time.sleep(0.005)


def expired_notes(owners: int, per_owner: int) -> None:
    """Records of ``owners`` partitions that have expired, and one live record in each."""
    for owner in range(owners):
        for n in range(per_owner):
            SwNote(owner=f"o{owner}", name=f"n{n}").save(ttl=0.001)
        SwNote(owner=f"o{owner}", name="live").save()
    time.sleep(0.01)


def left(redis_client: redis.Redis, owners: int) -> set[bytes]:
    return set().union(*(redis_client.smembers(f"{{td:SwNote:o{o}}}:all") for o in range(owners)))


def test_a_thread_sweeps_every_registered_model_one_partition_at_a_time(
    redis_client: redis.Redis,
) -> None:
    expired_notes(owners=3, per_owner=4)
    SwShop(name="old").save(ttl=0.001)  # a model without a ttl= keyword: its records may expire
    SwShop(name="kept").save()
    time.sleep(0.01)
    assert {SwNote, SwShop} <= {m.model for m in typedis.models()}
    with typedis.start_sweeper(every=3600) as sweeper:
        until(lambda: sweeper.rounds == 1)
        assert sweeper.running and sweeper.every == 3600
    assert not sweeper.running and sweeper.rounds == 1  # stopped while it waited
    assert sweeper.removed == 3 * 4 + 1
    assert left(redis_client, 3) == {b"o0:live", b"o1:live", b"o2:live"}
    assert redis_client.smembers("{td:SwShop}:all") == {b"kept"}
    assert SwNote.check_indexes()["total"] == 0 and SwShop.check_indexes()["total"] == 0


def test_models_narrows_the_sweep(redis_client: redis.Redis) -> None:
    expired_notes(owners=1, per_owner=2)
    SwShop(name="old").save(ttl=0.001)
    time.sleep(0.01)
    sweeper = typedis.start_sweeper(every=3600, models=[SwShop])
    until(lambda: sweeper.rounds == 1)
    sweeper.stop()
    assert sweeper.removed == 1
    assert redis_client.scard("{td:SwNote:o0}:all") == 3  # not swept


def test_a_failure_is_logged_and_the_round_goes_on(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    expired_notes(owners=2, per_owner=1)
    redis_client.set("{td:SwNote:o0}:exp", "not a sorted set")  # o0's sweep fails
    SwShop(name="old").save(ttl=0.001)
    time.sleep(0.01)
    with (
        caplog.at_level(logging.ERROR, logger="typedis.sweeper"),
        typedis.start_sweeper(every=3600, models=[SwNote, SwShop]) as sweeper,
    ):
        until(lambda: sweeper.rounds == 1)
    assert sweeper.removed == 2  # o1's note and the shop
    assert left(redis_client, 2) == {b"o0:n0", b"o0:live", b"o1:live"}
    [failure] = caplog.records
    assert failure.getMessage().startswith("sweeping SwNote {td:SwNote:o0} failed: ")
    assert isinstance(failure.exc_info and failure.exc_info[1], typedis.CorruptRecord)


def test_a_model_is_never_swept_by_two_sweepers_at_once(redis_client: redis.Redis) -> None:
    expired_notes(owners=2, per_owner=1)
    busy = _sweeper._lock("SwNote")  # pyright: ignore[reportPrivateUsage]
    with busy:  # another sweeper of this process is sweeping SwNote
        assert _sweeper.sweep_model(SwNote) is None
        sweeper = typedis.start_sweeper(every=3600, models=[SwNote])
        until(lambda: sweeper.rounds == 1)
        sweeper.stop()
        assert sweeper.removed == 0 and redis_client.scard("{td:SwNote:o0}:all") == 2
    assert _sweeper.sweep_model(SwNote) == 2


def test_stop_ends_a_sweep_between_partitions(redis_client: redis.Redis) -> None:
    expired_notes(owners=3, per_owner=1)
    seen: list[tuple[int, int | None]] = []
    removed = _sweeper.sweep_model(
        SwNote, stopped=lambda: len(seen) == 2, progress=lambda *step: seen.append(step)
    )
    assert removed == 2 and seen == [(1, 3), (2, 3)]
    assert len(left(redis_client, 3)) == 4  # one partition left with its expired note


def test_an_asyncio_task_sweeps_without_blocking_the_loop(redis_client: redis.Redis) -> None:
    expired_notes(owners=2, per_owner=3)

    async def main() -> typedis.AsyncSweeper:
        ticks = 0
        async with typedis.astart_sweeper(every=3600, models=[SwNote]) as sweeper:
            while sweeper.rounds == 0:  # the loop runs while the round does
                ticks += 1
                await asyncio.sleep(0.005)
            assert sweeper.running and ticks > 0
        return sweeper

    sweeper = asyncio.run(main())
    assert not sweeper.running and sweeper.rounds == 1 and sweeper.removed == 6
    assert left(redis_client, 2) == {b"o0:live", b"o1:live"}


def test_astart_sweeper_needs_a_running_loop() -> None:
    with pytest.raises(typedis.ConfigError, match=r"astart_sweeper\(\) needs a running event"):
        typedis.astart_sweeper()


@pytest.mark.parametrize("every", [0, -1, math.inf, math.nan, True, "60"])
def test_every_is_a_positive_number(every: object) -> None:
    threads = threading.active_count()
    with pytest.raises(typedis.ConfigError, match=r"every= is a positive number of seconds"):
        typedis.start_sweeper(every)  # type: ignore[arg-type]
    assert threading.active_count() == threads  # no thread was started


@pytest.mark.parametrize("model", [SwBase, int, "SwNote"])
def test_models_are_concrete_models(model: object) -> None:
    with pytest.raises(typedis.ModelError, match=r"sweeps concrete Model subclasses, got"):
        typedis.start_sweeper(models=[model])  # type: ignore[list-item]
