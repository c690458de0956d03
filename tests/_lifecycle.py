"""The record life cycle shared by the memory primitives' state machines.

A primitive's machine subclasses ``Lifecycle``, sets ``model`` (keyed by ``agent`` and
``name``), keeps its reference state per live record in ``self.live`` and adds its own rules;
these rules delete, move, expire and sweep records, keeping ``self.live`` and ``self.expired``
in step. Runs set ``Machine.client`` to the test's raw client first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import redis
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from typedis import KeyMutationError, Model

AGENTS = ["a", "b:c"]
NAMES = ["x", "%", "y{"]
PAST = datetime(2000, 1, 1, tzinfo=UTC)
KEYS = st.tuples(st.sampled_from(AGENTS), st.sampled_from(NAMES))


class Lifecycle(RuleBasedStateMachine):
    model: ClassVar[type[Model]]
    client: ClassVar[redis.Redis]

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.live: dict[tuple[str, str], Any] = {}
        self.expired: set[tuple[str, str]] = set()

    def loaded(self, key: tuple[str, str]) -> None:
        """A rule read the record under ``key`` (for primitives that count reads)."""

    @rule(key=KEYS)
    def delete(self, key: tuple[str, str]) -> None:
        agent, name = key
        assert self.model(agent=agent, name=name).delete() == (key in self.live)
        self.live.pop(key, None)
        self.expired.discard(key)

    @rule(src=KEYS, dst=KEYS)
    def migrate(self, src: tuple[str, str], dst: tuple[str, str]) -> None:
        if src not in self.live or src == dst:
            return
        record: Any = self.model.load(*src)
        self.loaded(src)
        record.agent, record.name = dst
        if dst in self.live:
            with pytest.raises(KeyMutationError):
                record.save(migrate_key=True)
            return
        record.save(migrate_key=True)
        self.live[dst] = self.live.pop(src)
        self.expired.discard(dst)

    @rule(key=KEYS)
    def expire(self, key: tuple[str, str]) -> None:
        if key not in self.live:
            return
        agent, name = key
        self.model(agent=agent, name=name).save(update_fields=[], expire_at=PAST)
        del self.live[key]
        self.expired.add(key)

    @rule()
    def sweep(self) -> None:
        assert self.model.sweep_expired() == len(self.expired)
        self.expired.clear()
