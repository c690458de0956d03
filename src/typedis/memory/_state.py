"""The memory primitives' state of a user's records, for ``RedisMemory.export`` and ``restore``.

What ``forget`` erases of a ``models=`` model beyond the records' fields, all of it user data,
exported as the server holds it: each record's hidden hash fields (``~...``: touch times,
confidence evidence, access counts staged and logged, cycle state), the co-occurrence edges
between the user's records (an edge never crosses a partition) and the ledger's predictions.
What is derived from the records is not exported: ``restore`` rebuilds it by saving them
(index entries and scores, text postings and statistics, bloom bits, vector version
counters; vector tombstones only ever name deleted records). ``restore`` saves the records,
then writes their state back in atomic steps of ``CHUNK`` records (``lua/memory_restore.lua``).
Reading runs no read hook (``lua/memory_export.lua``, ``memory_links.lua``): an export is no
use of the records.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _keys, _lua, _scripts, _store
from .._errors import ConfigError, NotFound
from ._records import EdgeState, ModelState, PredictionState, RecordState

if TYPE_CHECKING:
    from .._model import Model
    from .._spec import ModelSpec

M = TypeVar("M", bound="Model")

CHUNK = 200  # records per step of an export or a restore: each holds the server a few ms

_lua.operation("memory_export")
_lua.operation("memory_links")
_lua.operation("memory_restore")


_INT = re.compile(r"-?[0-9]{1,18}")
_INTS = re.compile(r"([0-9]{1,18}(,[0-9]{1,18})*)?")
_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
# The hidden fields whose text a script reads as numbers, by name prefix: what it must hold.
_FORMS = (
    ("~t:", _INT),  # a touch time (epoch ms)
    ("~conf+:", _INT),
    ("~conf-:", _INT),
    ("~acc:n:", _INT),
    ("~acc:s:", _INTS),  # read times (epoch ms), comma-separated
    ("~acc:log:", _INTS),
    ("~cy:r:", _INT),
    ("~cy:a:", re.compile(f"({_NUMBER}(,{_NUMBER})*)?")),  # cycle amplitudes
)


def records_call(
    model: type[M], tag: str, ids: Sequence[str]
) -> _scripts.Call[list[tuple[M, RecordState | None]]]:
    """The call reading records ``ids`` of a partition: each live one with its hidden state
    (None: it has none)."""
    spec = model.__typedis_spec__

    def done(reply: list[Any]) -> list[tuple[M, RecordState | None]]:
        out: list[tuple[M, RecordState | None]] = []
        for rid_bytes, flat in reply:
            rid = rid_bytes.decode()
            values: dict[bytes, bytes] = dict(zip(flat[::2], flat[1::2], strict=True))
            record = _store.hydrate(model, [values.get(n.encode()) for n in spec.read], (tag, rid))
            hidden = {
                k.decode(): v.decode()
                for k, v in sorted(values.items())
                if k.startswith(b"~") and k.decode() != _keys.EXPIRES
            }
            out.append((record, RecordState(id=rid, hidden=hidden) if hidden else None))
        return out

    function = _lua.library(spec).function("memory_export")
    keys = [_keys.record(tag, rid) for rid in ids]
    return _scripts.Call(function, keys, tuple(ids), done, write=False)


def links_call(
    model: type[Model], tag: str
) -> _scripts.Call[tuple[list[EdgeState], list[PredictionState]]]:
    """The call reading the co-occurrence edges and the predictions of a partition."""
    spec = model.__typedis_spec__
    named = [ix.fields[0] for ix in spec.indexes]  # the field of each index, by position

    def done(reply: list[Any]) -> tuple[list[EdgeState], list[PredictionState]]:
        edges: list[EdgeState] = []
        for position, member, weight in reply[0]:
            a, _, b = member.decode().partition("\0")
            field = named[int(position) - 1]
            edges.append(EdgeState(field=field, a=a, b=b, weight=float(weight)))
        predictions: list[PredictionState] = []
        for position, member, error in reply[1]:
            rid, _, tail = member.decode().partition("\0")
            key, _, data = tail.partition("\0")
            predictions.append(
                PredictionState(
                    field=named[int(position) - 1],
                    record=rid,
                    key=key,
                    data=data,
                    error=None if error is None else float(error),
                )
            )
        return edges, predictions

    function = _lua.library(spec).function("memory_links")
    return _scripts.Call(function, (_keys.all_ids(tag),), (tag,), done, write=False)


def restore_calls(
    model: type[Model], tag: str, state: ModelState, ids: Sequence[str]
) -> list[_scripts.Call[None]]:
    """The calls writing ``state`` back onto the records ``ids`` of a partition, once saved:
    one per ``CHUNK`` records, with the edges from them and their predictions.

    Raises:
        ConfigError: the state names a record not among ``ids``, a hidden field that is not
            one (``~...``, not the expiry) or holds a text its primitive does not write, or a
            field of no index of its kind; an edge joins a record to itself or has no finite
            weight > 0 (nothing was written).
    """
    spec = model.__typedis_spec__
    where = f"restore(): the state of {spec.name}"
    restored = set(ids)
    rows: dict[str, list[str]] = {}

    def record(rid: str) -> list[str]:
        if rid not in restored:
            raise ConfigError(f"{where} names record {rid!r}, which the export does not hold")
        return rows.setdefault(rid, [])

    for r in state.records:
        for name, value in r.hidden.items():
            if not name.startswith("~") or name == _keys.EXPIRES:
                raise ConfigError(f"{where}: {name!r} of record {r.id!r} is no hidden field")
            form = next((f for prefix, f in _FORMS if name.startswith(prefix)), None)
            if form is not None and not form.fullmatch(value):
                raise ConfigError(
                    f"{where}: {name!r} of record {r.id!r} holds {value!r}, not the "
                    f"{form.pattern!r} the primitive writes there"
                )
            record(r.id).extend((name, value))
    edges: list[tuple[int, str, str, str]] = []
    for e in state.edges:
        if e.a == e.b or not (math.isfinite(e.weight) and e.weight > 0):
            raise ConfigError(f"{where}: edge {e!r} needs two records and a finite weight > 0")
        for end in (e.a, e.b):
            record(end)
        edges.append((_position(spec, "cooccurrence", e.field, where), e.a, e.b, repr(e.weight)))
    predictions: list[tuple[int, str, str, str, str | None]] = []
    for p in state.predictions:
        record(p.record)
        error = None if p.error is None else repr(p.error)
        position = _position(spec, "ledger", p.field, where)
        predictions.append((position, p.record, f"{p.key}\0{p.data}", p.key, error))

    def done(reply: list[Any]) -> None:
        if reply[0] == b"missing":
            raise NotFound(
                f"{where}: record {reply[1].decode()!r} is not live (the state of its step and "
                "of the later ones was not written)"
            )

    function = _lua.library(spec).function("memory_restore")
    order = sorted(rows)
    calls: list[_scripts.Call[None]] = []
    for start in range(0, len(order), CHUNK):
        mine = set(order[start : start + CHUNK])
        own = [e for e in edges if e[1] in mine]  # an edge goes with the step of its first end
        named = sorted(mine | {e[2] for e in own})
        payload = {
            "records": [[rid, rows[rid] if rid in mine else []] for rid in named],
            "edges": own,
            "predictions": [p for p in predictions if p[1] in mine],
        }
        keys = [_keys.record(tag, rid) for rid in named]
        calls.append(_scripts.Call(function, keys, (tag, json.dumps(payload)), done, write=True))
    return calls


def _position(spec: ModelSpec, kind: str, field: str, where: str) -> int:
    """The position (1-based, as in Lua) of the ``kind`` index of ``field``."""
    index = spec.index_of(kind, field)
    if index is None:
        raise ConfigError(f"{where}: {field!r} is no {kind} field of {spec.name}")
    return spec.indexes.index(index) + 1
