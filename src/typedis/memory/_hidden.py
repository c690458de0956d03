"""What the memory primitives share: locating a record, reading its hidden fields.

A primitive keeps its companion data in hidden fields of the record's own hash (names starting
with ``~``, which load and queries never read): it lives in the record's hash tag, moves with a
key migration, and goes with delete, expiry and the sweep at no cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _keys, _lua, _scripts, _store
from .._errors import ModelError, NotFound

if TYPE_CHECKING:
    from .._model import Model
    from .._query._refs import FieldRef

R = TypeVar("R")

_lua.operation("memory_read")


def located(record: Model) -> tuple[str, str]:
    """The (tag, id) of a record: where it was saved or loaded, else where its key points."""
    return _store.saved_at(record) or record.__typedis_spec__.locate(vars(record))


def field_of(record: Model, ref: FieldRef[Any, Any], marker: type, what: str, caller: str) -> str:
    """The name of the field ``ref`` names, checked to be a ``what`` field of ``record``'s model."""
    model = type(record)
    name = getattr(ref, "name", None)
    spec = model.__typedis_spec__
    field = spec.fields.get(name) if isinstance(name, str) else None
    owner = getattr(ref, "model", None)
    if (
        field is None
        or not isinstance(field.marker, marker)
        or not (isinstance(owner, type) and issubclass(model, owner))
    ):
        raise ModelError(
            f"{caller}(): {ref!r} is not a {what} field of {spec.name}; pass "
            f"{spec.name}.<field> of a {what} field"
        )
    return field.name


def not_live(record: Model, caller: str) -> NotFound:
    spec = record.__typedis_spec__
    rid = located(record)[1]
    return NotFound(
        f"{caller}(): no live {spec.name} stored under key {rid!r} (never saved, deleted or "
        "expired); save() it first"
    )


def read_call(
    record: Model, names: Sequence[str], decode: Callable[[list[bytes | None]], R], caller: str
) -> _scripts.Call[R]:
    """The call that reads hash fields ``names`` of a live record (``NotFound`` otherwise)."""
    tag, rid = located(record)

    def done(reply: list[bytes | None] | None) -> R:
        if reply is None:
            raise not_live(record, caller)
        return decode(reply)

    function = _lua.library(record.__typedis_spec__).function("memory_read")
    return _scripts.Call(function, (_keys.record(tag, rid),), tuple(names), done, write=False)
