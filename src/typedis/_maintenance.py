"""Index health checks, whole-model cleanup, installing and pruning function libraries.

The only module that uses SCAN.

``check_indexes`` recomputes, in Python and independently of the Lua scripts, every index
entry the stored records imply, and compares it with what the server holds.
"""

from __future__ import annotations

import inspect
import weakref
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import redis
from redis.exceptions import NoPermissionError

from . import _index, _keys, _lua, _scripts, _store
from ._codec import text
from ._connection import Connection, get_connection
from ._errors import ModelError, PermissionDenied, QueryError
from ._query._query import count_call
from ._spec import ModelSpec

if TYPE_CHECKING:
    from ._model import Model

_BATCH = 500


def _client() -> redis.Redis:
    return get_connection().client


def tags(spec: ModelSpec) -> list[str]:
    """Every hash tag holding keys of this model: for a partitioned model, the partitions SCAN
    finds and those its registry lists (registered, maybe empty)."""
    scanned, listed = _found_and_listed(spec)
    return sorted(scanned | listed)


def _found_and_listed(spec: ModelSpec) -> tuple[set[str], set[str]]:
    """The partitions SCAN finds and those the registry lists (the model's tag, unpartitioned)."""
    if not spec.partition:
        return {_keys.tag(spec.name)}, set()
    return set(_scanned_tags(spec)), set(_registry(spec))


def _scanned_tags(spec: ModelSpec) -> list[str]:
    """The partitions of a partitioned model that hold keys, by SCAN."""
    own = _keys.tag(spec.name)  # holds the registry only
    found = {key[: key.index(b"}") + 1].decode() for key in _scan(_keys.scan_pattern(spec.name))}
    return sorted(found - {own})


def _registry(spec: ModelSpec) -> list[str]:
    """The partitions a partitioned model's registry lists."""
    key = _keys.partitions(spec.name)
    try:
        members = _scripts.command(_client(), "SMEMBERS", key)
    except NoPermissionError as error:
        raise PermissionDenied(
            f"reading the registry of partitions {key} needs SMEMBERS on it, which the server's "
            f"ACL refuses this user (a tenant user sweeps its own partition with "
            f"{spec.name}.sweep_expired(<partition values>); sweeping every partition, like "
            "check_indexes() and delete_all() with their SCAN, is for an administrator)"
        ) from error
    except redis.RedisError as error:
        raise _scripts.typed(
            error, f"reading the registry of partitions {key}", write=False
        ) from error
    return sorted(m.decode() for m in members)


def partitions(spec: ModelSpec) -> list[str]:
    """The partitions to sweep: the registry's; where it is absent (partitions written before
    typedis kept one, or a FLUSHDB), those SCAN finds, which are registered then."""
    listed = _registry(spec)
    if listed:
        return listed
    _known(spec).clear()  # this connection registers its partitions again
    found = _scanned_tags(spec)
    if found:
        _add(spec, found)
    return found


# The partitions each connection has added to each model's registry, first added first: each
# is registered once per connection, before its first write (docs/keys.md, "The registry of
# partitions"). The first one is a witness: sent again with every new partition, it tells
# when the registry was lost (SADD counts it as added), and then all of them are added again.
_registered: weakref.WeakKeyDictionary[Connection, dict[str, dict[str, None]]] = (
    weakref.WeakKeyDictionary()
)


def _known(spec: ModelSpec) -> dict[str, None]:
    return _registered.setdefault(get_connection(), {}).setdefault(spec.name, {})


def _registration(spec: ModelSpec, saves: Sequence[_scripts.Call[Any]]) -> list[str]:
    """The partitions to SADD before ``saves`` (save calls, whose first argument is the tag they
    write): those this connection has not registered, with the witness; [] for none."""
    if not spec.partition:
        return []
    known = _known(spec)
    new = sorted({str(call.args[0]) for call in saves} - known.keys())  # a save's 1st arg: its tag
    return [*new, *list(known)[:1]] if new else []


def _registered_now(spec: ModelSpec, sent: list[str], added: int) -> list[str]:
    """Note the partitions ``sent`` as registered; those to add again: all, if the registry had
    lost the witness (it was then added), else none."""
    known = _known(spec)
    lost = len(known) > 0 and added == len(sent)
    known.update(dict.fromkeys(sent))
    return list(known) if lost else []


def register(spec: ModelSpec, saves: Sequence[_scripts.Call[Any]]) -> None:
    """Before ``saves``: add the partitions they write to the model's registry, unless this
    connection did. The registry is a set under the model's own tag, written by a command of its
    own: the save scripts run in the partition's slot, and a cluster lets a script touch one."""
    sent = _registration(spec, saves)
    if sent:
        again = _registered_now(spec, sent, _add(spec, sent))
        if again:
            _add(spec, again)


def _add(spec: ModelSpec, tags: list[str]) -> int:
    """SADD partitions to the registry (idempotent: the retrying read client sends it); how
    many were not there."""
    key = _keys.partitions(spec.name)
    with _scripts.typed_errors(f"registering the partitions {tags} in {key}"):
        added: int = _scripts.command(get_connection().client, "SADD", key, *tags)
    return added


async def aregister(spec: ModelSpec, saves: Sequence[_scripts.Call[Any]]) -> None:
    """``register()`` on the asyncio client."""
    sent = _registration(spec, saves)
    if sent:
        again = _registered_now(spec, sent, await _aadd(spec, sent))
        if again:
            await _aadd(spec, again)


async def _aadd(spec: ModelSpec, tags: list[str]) -> int:
    """``_add()`` on the asyncio client."""
    key = _keys.partitions(spec.name)
    with _scripts.typed_errors(f"registering the partitions {tags} in {key}"):
        client = get_connection().aclient
        return await cast(Awaitable[int], _scripts.command(client, "SADD", key, *tags))


def forget_registrations() -> None:
    """Register every partition again before its next write (after a FLUSHDB, in tests)."""
    _registered.clear()


def _scan(pattern: str) -> list[bytes]:
    """Every key matching a pattern, by SCAN (never KEYS)."""
    client = _client()
    keys: list[bytes] = []
    cursor = 0
    while True:
        try:
            reply = _scripts.command(client, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        except NoPermissionError as error:
            raise PermissionDenied(
                f"listing the keys {pattern} needs SCAN, which the server's ACL refuses this "
                "user (a tenant user sweeps its own partition with "
                "Model.sweep_expired(<partition values>); check_indexes() and delete_all() "
                "are for an administrator)"
            ) from error
        except redis.RedisError as error:
            raise _scripts.typed(error, f"SCAN {pattern}", write=False) from error
        cursor, batch = reply
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
    """One reply of ``command`` per key, pipelined (a ZRANGE reads a whole sorted set)."""
    extra: tuple[Any, ...] = (0, -1, "WITHSCORES") if command == "ZRANGE" else ()
    out: list[Any] = []
    for chunk in _chunks(keys):
        pipe = _scripts.pipeline(_client())
        for key in chunk:
            _scripts.command(pipe, command, key, *extra)
        with _scripts.typed_errors(f"reading {len(chunk)} keys with {command}"):
            out += pipe.execute()
    return out


def _server_ms(client: redis.Redis) -> float:
    with _scripts.typed_errors("TIME"):
        seconds, micros = _scripts.command(client, "TIME")
    return int(seconds) * 1000 + int(micros) / 1000


def report_entries() -> tuple[str, ...]:
    """The entries of a ``check_indexes()`` report: the record-level ones and each kind's."""
    by_kinds = (name for kind in _index.kinds() for name in kind.reports)
    return ("class_set", "records", *dict.fromkeys(by_kinds), "expiry", "partitions")


def check_indexes(model: type[Model]) -> dict[str, int]:
    """Count orphaned, missing or wrong index entries of each kind, without writing anything;
    ``partitions``: the partitions holding keys that the model's registry does not list."""
    spec = model.__typedis_spec__
    report: dict[str, int] = dict.fromkeys(report_entries(), 0)
    scanned, listed = _found_and_listed(spec)
    if listed:  # an absent registry is found by the next sweep_expired()
        report["partitions"] = len(scanned - listed)
    for tag in sorted(scanned | listed):
        _check_tag(spec, tag, report)
    report["total"] = sum(report.values())
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

    with _scripts.typed_errors(f"reading {_keys.all_ids(tag)}"):
        members = {m.decode() for m in _scripts.command(client, "SMEMBERS", _keys.all_ids(tag))}
    report["class_set"] += len(members ^ set(records))

    expiry = _read_held([_keys.expiry(tag)], "zset")
    wanted = Counter(
        (_keys.expiry(tag), rid, float(v["~exp"])) for rid, v in records.items() if "~exp" in v
    )
    held = Counter((k, m, score) for k, zset in expiry.items() for m, score in zset.items())
    report["expiry"] += sum(((wanted - held) + (held - wanted)).values())

    names = [k.decode() for k in keys]
    now = _server_ms(client)
    for index in spec.indexes:
        kind = index.kind
        contents = _read_held(kind.stored_keys(tag, index, names), kind.redis_type)
        report[index.report] += kind.check(spec, tag, index, records, contents, now)


def _read_held(keys: Sequence[str], redis_type: str) -> dict[str, Any]:
    """The contents of index keys of one Redis type: member sets, hashes, zset scores or strings
    (a bitmap's bytes)."""
    command = {"set": "SMEMBERS", "hash": "HGETALL", "zset": "ZRANGE", "string": "GET"}[redis_type]
    replies = _read_all([k.encode() for k in keys], command)
    held: dict[str, Any] = {}
    for key, reply in zip(keys, replies, strict=True):
        if redis_type == "set":
            held[key] = {m.decode() for m in reply}
        elif redis_type == "hash":
            held[key] = {f.decode(): v.decode() for f, v in reply.items()}
        elif redis_type == "string":
            held[key] = reply or b""
        else:  # RESP3 replies [member, score] pairs, RESP2 a flat list
            flat = reply and not isinstance(reply[0], list)
            pairs = zip(reply[::2], reply[1::2], strict=True) if flat else reply
            held[key] = {m.decode(): float(score) for m, score in pairs}
    return held


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
            with _scripts.typed_errors(f"deleting the keys left in {tag}"):
                _scripts.command(_client(), "UNLINK", *chunk)
    return removed


def sweep_expired(model: type[Model], partition: Sequence[Any], limit: object) -> int:
    """Remove expired records with their index entries, ``limit`` per script call; the count.

    With partition values, only that partition. Without, every partition the model's registry
    lists (no SCAN; see ``partitions``); one the ACL user may not sweep stops it with
    ``PermissionDenied``.
    """
    spec = model.__typedis_spec__
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ModelError(f"{spec.name}.sweep_expired(): limit must be an int >= 1, got {limit!r}")
    if partition or not spec.partition:
        return sweep_tag(spec, tag_for(spec, partition), limit)
    removed = 0
    for tag in partitions(spec):
        try:
            removed += sweep_tag(spec, tag, limit)
        except PermissionDenied as error:
            raise PermissionDenied(
                f"{spec.name}.sweep_expired() stopped at the partition {tag} ({error}); a user "
                f"limited to some partitions sweeps each: {spec.name}.sweep_expired(<values>)"
            ) from error
    return removed


def sweep_tag(spec: ModelSpec, tag: str, limit: int) -> int:
    """Remove the expired records of one tag (a partition), ``limit`` per call; the count."""
    removed = 0
    while True:
        done = _scripts.run(_store.sweep_call(spec, tag, limit))
        removed += done
        if done < limit:
            return removed


def count(model: type[Model], partition: Sequence[Any], exact: bool) -> int:
    """Records of the model (of one partition, for a partitioned model): the live ones, or
    (not ``exact``) those of its id set, expired records not yet swept included."""
    spec = model.__typedis_spec__
    return _scripts.run(count_call(spec, tag_for(spec, partition), exact))


def prune_functions(*models: type[Model]) -> list[str]:
    """Delete typedis' Redis function libraries except those of ``models``; return their names.

    Each model's write functions live in a library named by a digest of its code, so a changed
    model or a new typedis version loads a new library and the old one stays on the server.
    Pruning is safe while clients run: a client whose library is gone loads it again on its
    next call (nothing runs against a missing function), or, if its ACL user may not load
    functions, raises ``PermissionDenied`` until ``install_functions()`` installs it.
    """
    keep = {_lua.library(m.__typedis_spec__).name for m in models}
    pattern = _lua.LIBRARY_PREFIX + "*"
    with _scripts.typed_errors("FUNCTION LIST"):
        listed: list[dict[bytes, Any]] = _scripts.command(
            _client(), "FUNCTION", "LIST", "LIBRARYNAME", pattern
        )
    names = [entry[b"library_name"].decode() for entry in listed]
    # The server matches LIBRARYNAME without regard to case; typedis' prefix is lowercase.
    pruned = sorted(n for n in names if n.startswith(_lua.LIBRARY_PREFIX) and n not in keep)
    for name in pruned:
        try:
            _scripts.command(get_connection().writer, "FUNCTION", "DELETE", name)
        except redis.ResponseError as error:  # deleted meanwhile by another pruner
            if "not found" not in str(error).lower():
                raise _scripts.typed(error, f"FUNCTION DELETE {name}", write=True) from error
        except redis.RedisError as error:
            raise _scripts.typed(error, f"FUNCTION DELETE {name}", write=True) from error
    return pruned


def install_functions(*models: type[Model]) -> list[str]:
    """Load the function libraries of ``models`` on the server; return their names.

    For an administrator: users without ``FUNCTION`` rights (the tenants of docs/keys.md's ACL
    recipe) can only call libraries installed for them. Run it again after a typedis upgrade
    or a model change, whose library has a new name (a digest of its code). Idempotent, and it
    restores a library whose code was altered (FUNCTION LOAD REPLACE).

    Raises:
        ModelError: an argument is not a concrete ``Model`` subclass.
        PermissionDenied: this user may not run FUNCTION LOAD.
    """
    libraries: dict[str, str] = {}  # name -> source; models of one layout share a library
    for model in models:
        spec = getattr(model, "__typedis_spec__", None)
        if not (inspect.isclass(model) and isinstance(spec, ModelSpec)):
            raise ModelError(f"install_functions() takes Model subclasses, got {model!r}")
        if spec.abstract:
            raise ModelError(f"install_functions(): {spec.name} is abstract (it stores nothing)")
        library = _lua.library(spec)
        libraries[library.name] = library.source
    for name, source in libraries.items():
        try:
            _scripts.command(get_connection().writer, "FUNCTION", "LOAD", "REPLACE", source)
        except NoPermissionError as error:
            raise PermissionDenied(
                f"install_functions(): loading {name} needs FUNCTION LOAD, which the server's "
                "ACL refuses this user: run it as an administrator"
            ) from error
        except redis.RedisError as error:
            raise _scripts.typed(error, f"FUNCTION LOAD {name}", write=True) from error
    return list(libraries)
