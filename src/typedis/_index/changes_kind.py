"""Kind ``changes``: a model's change log, declared with ``class Order(Model, changes=True)``.

Not an index of one field: one per model, over all its fields, added by ``_schema`` when the
model declares ``changes=``. Its hooks run in every write script like any kind's, so each
write appends its event to the stream ``<tag>:changes`` in the same atomic step: ``add`` a
create, ``move`` an update (with the fields whose stored text changed), ``remove`` a delete
(a delete, a sweep, a record replaced or moved away), ``touched`` a touch (``lua/touch.lua``).
Entries: ``~op``, ``~id``, ``~changed`` (changed field names, space separated), then each
field holding a value with its stored text (field names never start with ``~``).
``_changes`` reads them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from .. import _keys
from .._errors import ModelError
from ._kind import Held, IndexKind, Records

if TYPE_CHECKING:
    from .._spec import FieldSpec, IndexSpec, ModelSpec

DEFAULT_MAXLEN = 100_000


@dataclass(frozen=True, slots=True)
class ChangeStream:
    """The length policy of a model's change log: ``class Order(Model, changes=ChangeStream(...))``.

    Args:
        maxlen: how many events the stream keeps (older ones are trimmed as new ones come);
            None keeps every event. ``changes=True`` keeps 100,000.
        approximate: trim with ``MAXLEN ~`` (whole stream nodes at a time: cheaper, and the
            stream may hold somewhat more than ``maxlen``); False trims to exactly ``maxlen``.
    """

    maxlen: int | None = DEFAULT_MAXLEN
    approximate: bool = True


def policy(model: str, changes: object) -> ChangeStream | None:
    """The change log policy of the ``changes=`` class keyword (None: no change log)."""
    if changes is None or changes is False:
        return None
    if changes is True:
        return ChangeStream()
    if not isinstance(changes, ChangeStream):
        raise ModelError(f"{model}: changes= takes True, False or a ChangeStream, got {changes!r}")
    maxlen = cast(object, changes.maxlen)  # the dataclass does not check its arguments' types
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
    ):
        raise ModelError(
            f"{model}: ChangeStream(maxlen=...) must be a positive int or None, got {maxlen!r}"
        )
    return changes


class ChangesKind(IndexKind):
    name = "changes"
    per_tag = True
    letter = _keys.CHANGES
    redis_type = "stream"
    kept = True  # delete_all() leaves the log: consumers still read its delete events

    def check_field(self, where: str, field: FieldSpec) -> None:
        """Every field type is logged as its stored text: nothing to refuse."""

    def suffix(self, fields: tuple[str, ...]) -> str:
        return _keys.CHANGES

    def report(self, index: IndexSpec) -> str:
        """No entry of its own (``check`` finds nothing): counted under ``records``."""
        return "records"

    def stored_keys(self, tag: str, index: IndexSpec, keys: Iterable[str]) -> list[str]:
        """None to read: the log is not derived from the records (``check`` compares nothing)."""
        return []

    def check(
        self,
        spec: ModelSpec,
        tag: str,
        index: IndexSpec,
        records: Records,
        held: Held,
        now_ms: float,
    ) -> int:
        """0: a change log holds history, which the records cannot confirm or refute."""
        return 0


def options(stream: ChangeStream) -> Mapping[str, str | float]:
    """The ``opts`` the Lua reads: ``maxlen`` (0: none) and ``trim`` (``~`` or ``=``)."""
    return {"maxlen": float(stream.maxlen or 0), "trim": "~" if stream.approximate else "="}


CHANGES = ChangesKind()
