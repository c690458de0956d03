"""Index health checks, whole-model cleanup and pruning of old function libraries.

The only module that uses SCAN.

``check_indexes`` recomputes, in Python and independently of the Lua scripts, every index
entry the stored records imply, and compares it with what the server holds.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import redis
from pydantic import TypeAdapter

from . import _keys, _scripts, _store
from ._codec import text
from ._connection import get_connection
from ._errors import QueryError
from ._schema import IndexSpec, ModelSpec

if TYPE_CHECKING:
    from ._model import Model

KINDS: tuple[str, ...] = (
    "class_set",
    "records",
    "key",
    "unique",
    "indexed",
    "sorted",
    "geo",
    "composite",
    "prefix",
    "expiry",
)
_BATCH = 500


def _client() -> redis.Redis:
    return get_connection().client


def tags(spec: ModelSpec) -> list[str]:
    """Every hash tag holding keys of this model (one per partition)."""
    if not spec.partition:
        return [_keys.tag(spec.name)]
    found = {key[: key.index(b"}") + 1].decode() for key in _scan(_keys.scan_pattern(spec.name))}
    return sorted(found)


def _scan(pattern: str) -> list[bytes]:
    """Every key matching a pattern, by SCAN (never KEYS)."""
    client = _client()
    keys: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = _scripts.command(client, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys += batch
        if int(cursor) == 0:
            return keys


def tag_for(spec: ModelSpec, partition: Sequence[Any]) -> str:
    """The tag of one partition, from its values in ``partition=`` order."""
    if len(partition) != len(spec.partition):
        raise QueryError(
            f"{spec.name} is partitioned by {spec.partition}: give one value for each"
            if spec.partition
            else f"{spec.name} is not partitioned: give no partition values"
        )
    fields = spec.fields
    return _keys.tag(
        spec.name,
        [text(fields[n].codec, v) for n, v in zip(spec.partition, partition, strict=True)],
    )


def _tag_keys(tag: str) -> list[bytes]:
    return _scan(tag + ":*")  # a tag holds escaped text only: no glob characters


def _record_ids(tag: str, keys: list[bytes]) -> list[tuple[bytes, str]]:
    """The record keys among ``keys`` with their ids."""
    prefix = f"{tag}:r:".encode()
    return [(k, k[len(prefix) :].decode()) for k in keys if k.startswith(prefix)]


def _chunks(items: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_all(keys: Sequence[bytes], command: str) -> list[Any]:
    out: list[Any] = []
    for chunk in _chunks(keys):
        pipe = _scripts.pipeline(_client())
        for key in chunk:
            _scripts.command(pipe, command, key)
        out += pipe.execute()
    return out


def _zset(client: redis.Redis, key: str) -> dict[str, float]:
    """All members of a sorted set with their scores."""
    flat: list[bytes] = _scripts.command(client, "ZRANGE", key, 0, -1)
    scores: list[bytes | None] = _scripts.command(client, "ZMSCORE", key, *flat) if flat else []
    return {
        m.decode(): float("nan") if s is None else float(s)
        for m, s in zip(flat, scores, strict=True)
    }


@functools.cache
def _parser(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _score_of(spec: ModelSpec, name: str, raw: bytes) -> float:
    field = spec.fields[name]
    assert field.codec.score is not None
    return field.codec.score(_parser(field.annotation).validate_python(raw.decode()))


def _server_ms(client: redis.Redis) -> float:
    seconds, micros = _scripts.command(client, "TIME")
    return int(seconds) * 1000 + int(micros) / 1000


def _live(values: dict[str, str], now_ms: float) -> bool:
    return "~exp" not in values or float(values["~exp"]) > now_ms


def _diff(expected: Counter[Any], actual: Counter[Any]) -> int:
    return sum(((expected - actual) + (actual - expected)).values())


def check_indexes(model: type[Model]) -> dict[str, int]:
    """Count orphaned, missing or wrong index entries of each kind, without writing anything."""
    spec = model.__typedis_spec__
    report: dict[str, int] = dict.fromkeys(KINDS, 0)
    for tag in tags(spec):
        _check_tag(spec, tag, report)
    report["total"] = sum(report[k] for k in KINDS)
    return report


def _check_tag(spec: ModelSpec, tag: str, report: dict[str, int]) -> None:
    keys = _tag_keys(tag)
    located = _record_ids(tag, keys)
    record_keys = [k for k, _ in located]
    ids = [rid for _, rid in located]
    records: dict[str, dict[str, str]] = {
        rid: {f.decode(): v.decode("utf-8", "surrogateescape") for f, v in flat.items()}
        for rid, flat in zip(ids, _read_all(record_keys, "HGETALL"), strict=True)
        if flat
    }
    client = _client()

    # The record itself: its id and tag follow from its stored key values.
    for rid, values in records.items():
        key_texts = [values.get(k) for k in spec.keys]
        part_texts = [values.get(p) for p in spec.partition]
        if None in key_texts or None in part_texts:
            report["records"] += 1
            continue
        if _keys.record_id(key_texts) != rid or _keys.tag(spec.name, part_texts) != tag:  # type: ignore[arg-type]
            report["records"] += 1

    members = {m.decode() for m in _scripts.command(client, "SMEMBERS", _keys.all_ids(tag))}
    report["class_set"] += len(members ^ set(records))

    expiry = _zset(client, _keys.expiry(tag))
    wanted = {rid: float(v["~exp"]) for rid, v in records.items() if "~exp" in v}
    report["expiry"] += _diff(Counter(wanted.items()), Counter(expiry.items()))

    for index in spec.indexes:
        report[_report_kind(index)] += _check_index(spec, tag, index, records, keys)


def _report_kind(index: IndexSpec) -> str:
    if index.source in ("decaying", "confidence"):
        return "sorted"
    if index.source == "link":
        return "indexed"
    return index.source


def _check_index(
    spec: ModelSpec,
    tag: str,
    index: IndexSpec,
    records: dict[str, dict[str, str]],
    keys: list[bytes],
) -> int:
    client = _client()
    if index.kind == "set":
        expected = Counter(
            (_keys.set_index(tag, index.suffix, [v.get(f) for f in index.fields]), rid)
            for rid, v in records.items()
        )
        prefix = f"{tag}:{index.suffix}".encode()
        set_keys = [k for k in keys if k.startswith(prefix)]
        actual: Counter[Any] = Counter()
        for key, ids in zip(set_keys, _read_all(set_keys, "SMEMBERS"), strict=True):
            actual.update((key.decode(), m.decode()) for m in ids)
        return _diff(expected, actual)
    hash_or_zset = f"{tag}:{index.suffix}"
    if index.kind == "uniq":
        # An expired record not yet swept may keep its entry, or may have lost it to a new
        # holder of the value: its entry is allowed, not required.
        now = _server_ms(client)
        wanted = {
            (_keys.unique_field([v[f] for f in index.fields]), rid): _live(v, now)
            for rid, v in records.items()
            if all(f in v for f in index.fields)
        }
        raw: dict[bytes, bytes] = _scripts.command(client, "HGETALL", hash_or_zset)
        held = {(f.decode(), r.decode()) for f, r in raw.items()}
        required = {entry for entry, live in wanted.items() if live}
        return len(required - held) + len(held - wanted.keys())
    name = index.fields[0]
    entries = _zset(client, hash_or_zset)
    if index.kind == "lex":
        members = {_keys.prefix_member(v[name], rid) for rid, v in records.items() if name in v}
        return len(set(entries) ^ members)
    if index.source in ("sorted", "confidence"):
        want = Counter(
            (rid, _score_of(spec, name, v[name].encode()))
            for rid, v in records.items()
            if name in v
        )
        return _diff(want, Counter(entries.items()))
    return len(set(entries) ^ {rid for rid, v in records.items() if name in v})


def delete_all(model: type[Model]) -> int:
    """Delete every record of the model (all partitions) with its index entries.

    Records go through the delete script, so each disappears with its entries atomically;
    index keys left without records (from writes outside typedis) are removed afterwards.
    Not meant to run while other clients write the same model.
    """
    spec = model.__typedis_spec__
    removed = 0
    for tag in tags(spec):
        located = [(tag, rid) for _, rid in _record_ids(tag, _tag_keys(tag))]
        for chunk in _chunks(located):
            removed += _scripts.run(_store.delete_call(spec, chunk))
        leftovers = _tag_keys(tag)
        for chunk in _chunks(leftovers):
            _client().unlink(*chunk)
    return removed


def sweep_expired(model: type[Model], limit: int = 1000) -> int:
    """Remove expired records with their index entries; cost O(expired). Returns the count."""
    spec = model.__typedis_spec__
    removed = 0
    for tag in tags(spec):
        while True:
            done = _scripts.run(_store.sweep_call(spec, tag, limit))
            removed += done
            if done < limit:
                break
    return removed


def count(model: type[Model], partition: Sequence[Any]) -> int:
    """Live records of the model (of one partition, for a partitioned model)."""
    return _scripts.run(_store.count_call(tag_for(model.__typedis_spec__, partition)))


def prune_functions(*models: type[Model]) -> list[str]:
    """Delete typedis' Redis function libraries except those of ``models``; return their names.

    Each model's write functions live in a library named by a digest of its code, so a changed
    model or a new typedis version loads a new library and the old one stays on the server.
    Pruning is safe while clients run: a client whose library is gone loads it again on its
    next call (nothing runs against a missing function).
    """
    keep = {_scripts.for_model(m.__typedis_spec__.lua_spec).save.library for m in models}
    pattern = _scripts.LIBRARY_PREFIX + "*"
    listed: list[dict[bytes, Any]] = _scripts.command(
        _client(), "FUNCTION", "LIST", "LIBRARYNAME", pattern
    )
    names = [entry[b"library_name"].decode() for entry in listed]
    # The server matches LIBRARYNAME without regard to case; typedis' prefix is lowercase.
    pruned = sorted(n for n in names if n.startswith(_scripts.LIBRARY_PREFIX) and n not in keep)
    for name in pruned:
        try:
            _scripts.command(get_connection().writer, "FUNCTION", "DELETE", name)
        except redis.ResponseError as error:  # deleted meanwhile by another pruner
            if "not found" not in str(error).lower():
                raise
    return pruned
