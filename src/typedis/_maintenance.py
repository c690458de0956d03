"""Index health checks and repair, whole-model cleanup, installing and pruning function
libraries.

The only module that uses SCAN. On a cluster, SCAN runs on every primary (``_scan``), and
libraries are installed on and pruned from every primary (``_primaries``); the reads of keys
go to a cluster pipeline, which sends each node its share.

``check_indexes`` recomputes, in Python and independently of the Lua scripts, every index
entry the stored records imply, and compares it with what the server holds. ``clean_indexes``
sends the entries it finds stale to ``lua/clean.lua``, which removes each only if the record it
points at still holds what was read; ``rebuild_indexes`` cleans, then indexes every record from
its hash with ``lua/reindex.lua`` (under the same condition).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import redis
from pydantic import ValidationError
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import NoPermissionError

from . import _index, _keys, _lua, _scripts, _store
from ._codec import Arg, text
from ._connection import AsyncClient, Client, Connection, get_connection
from ._errors import CorruptRecord, ModelError, PermissionDenied, QueryError
from ._index._kind import Records, Stale, difference
from ._keys import EXPIRES as EXP
from ._query._query import count_call
from ._scripts import Command
from ._spec import ModelSpec

if TYPE_CHECKING:
    from ._model import Model

_BATCH = 500  # commands per pipeline
R = TypeVar("R")
T = TypeVar("T")


def _client() -> Client:
    return get_connection().client


# ---- the steps of a maintenance run, driven on the sync or the asyncio clients --------------
#
# A run is a generator of steps (``_Steps``): it yields a ``_Read`` (commands to pipeline) or
# a ``Call`` (a script), and receives the replies. ``_drive`` and ``_adrive`` run it, so the
# sync and the async methods share every line of their logic.


@dataclass(frozen=True, slots=True)
class _Read:
    """Commands the driver pipelines (reads, or idempotent writes: the client retries them)."""

    commands: Sequence[Command]
    what: str
    denied: str = ""  # the message of PermissionDenied when the ACL refuses a command
    node: str = ""  # on a cluster, the primary to send them to (by name; "": by their keys)


class _Primaries:
    """The step asking for the primaries' names: ``[""]`` for a single server."""


_PRIMARIES = _Primaries()

_Steps = Generator["_Read | _Primaries | _scripts.Call[Any]", Any, R]


def _primaries() -> list[_scripts.Commands]:
    """A client of each primary of a cluster (they do not retry), or the writer of a single
    server."""
    writer = get_connection().writer
    if not isinstance(writer, RedisCluster):
        return [writer]
    with _scripts.typed_errors("listing the primaries of the cluster"):
        cluster: Any = writer  # redis-py leaves the cluster client's methods unannotated
        return [cluster.get_redis_connection(node) for node in cluster.get_primaries()]


def _primary_names(client: Client | AsyncClient) -> list[str]:
    if isinstance(client, RedisCluster | AsyncRedisCluster):
        return [node.name for node in client.get_primaries()]
    return [""]


def _drive(steps: _Steps[R]) -> R:
    """Run the steps on the sync clients; their result."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as stop:
            return cast(R, stop.value)
        if isinstance(step, _Primaries):
            with _scripts.typed_errors("listing the primaries of the cluster"):
                reply = _primary_names(_client())
        elif isinstance(step, _Read):
            reply = _pipelined(step, _node(step.node) if step.node else _client())
        else:
            reply = _scripts.run(step)


async def _adrive(steps: _Steps[R]) -> R:
    """Run the steps on the asyncio clients; their result."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as stop:
            return cast(R, stop.value)
        if isinstance(step, _Primaries):
            client = get_connection().aclient
            with _scripts.typed_errors("listing the primaries of the cluster"):
                if isinstance(client, AsyncRedisCluster):
                    await client.initialize()
                reply = _primary_names(client)
        elif isinstance(step, _Read) and step.node:
            reply = await _anode_read(step)
        elif isinstance(step, _Read):
            reply = [await cast(Awaitable[Any], part) for part in _apipelined(step)]
            reply = [item for part in reply for item in part]
        else:
            reply = await _scripts.arun(step)


def _pipelined(read: _Read, client: Client) -> list[Any]:
    out: list[Any] = []
    with _read_errors(read):
        for chunk in _chunks(read.commands):
            batch = _scripts.pipeline(client)
            for command in chunk:
                _scripts.command(batch, *command)
            out += batch.execute()
    return out


def _node(name: str) -> redis.Redis:
    """The client of one node of the cluster (by name)."""
    cluster: Any = _client()  # redis-py leaves the cluster client's methods unannotated
    with _scripts.typed_errors(f"reaching the node {name} of the cluster"):
        node = cluster.get_node(node_name=name)
        if node is None:
            raise redis.ConnectionError(f"Error connecting to {name}: it left the cluster")
        return cast(redis.Redis, cluster.get_redis_connection(node))


async def _anode_read(read: _Read) -> list[Any]:
    """A read sent to one node of the cluster, on the asyncio client (one command at a time)."""
    cluster: Any = get_connection().aclient  # redis-py leaves its methods unannotated
    with _read_errors(read):
        node = cluster.get_node(node_name=read.node)
        if node is None:
            raise redis.ConnectionError(f"Error connecting to {read.node}: it left the cluster")
        return [await node.execute_command(*command) for command in read.commands]


def _apipelined(read: _Read) -> Iterator[Awaitable[list[Any]]]:
    """One awaitable per chunk of the read's commands (its errors typed as ``_read_errors``)."""
    for chunk in _chunks(read.commands):
        batch: Any = get_connection().aclient.pipeline(transaction=False)
        for command in chunk:
            _scripts.command(batch, *command)
        yield _aexecute(read, batch)


async def _aexecute(read: _Read, batch: Any) -> list[Any]:
    with _read_errors(read):
        return cast(list[Any], await batch.execute())


@contextmanager
def _read_errors(read: _Read) -> Generator[None]:
    try:
        yield
    except NoPermissionError as error:
        if read.denied:
            raise PermissionDenied(read.denied) from error
        raise _scripts.typed(error, read.what, write=False) from error
    except redis.RedisError as error:
        raise _scripts.typed(error, read.what, write=False) from error


def tags(spec: ModelSpec) -> list[str]:
    """Every hash tag holding keys of this model: for a partitioned model, the partitions SCAN
    finds and those its registry lists (registered, maybe empty)."""
    scanned, listed = _drive(_found_and_listed(spec))
    return sorted(scanned | listed)


def _found_and_listed(spec: ModelSpec) -> _Steps[tuple[set[str], set[str]]]:
    """The partitions SCAN finds and those the registry lists (the model's tag, unpartitioned)."""
    if spec.shards:
        return set(spec.shard_tags()), set()
    if not spec.partition:
        return {_keys.tag(spec.name)}, set()
    return set((yield from _scanned_tags(spec))), set((yield from _registry(spec)))


def _scanned_tags(spec: ModelSpec) -> _Steps[list[str]]:
    """The partitions of a partitioned model that hold keys, by SCAN."""
    own = _keys.tag(spec.name)  # holds the registry only
    keys = yield from _scan(_keys.scan_pattern(spec.name))
    return sorted({key[: key.index(b"}") + 1].decode() for key in keys} - {own})


def _registry(spec: ModelSpec) -> _Steps[list[str]]:
    """The partitions a partitioned model's registry lists."""
    key = _keys.partitions(spec.name)
    denied = (
        f"reading the registry of partitions {key} needs SMEMBERS on it, which the server's "
        f"ACL refuses this user (a tenant user sweeps its own partition with "
        f"{spec.name}.sweep_expired(<partition values>); sweeping every partition, like "
        "check_indexes() and delete_all() with their SCAN, is for an administrator)"
    )
    (members,) = yield _Read(
        [("SMEMBERS", key)], f"reading the registry of partitions {key}", denied
    )
    return sorted(m.decode() for m in members)


def partitions(spec: ModelSpec) -> list[str]:
    """The partitions to sweep: the registry's; where it is absent (partitions written before
    typedis kept one, or a FLUSHDB), those SCAN finds, which are registered then. A sharded
    model's shards."""
    if spec.shards:
        return spec.shard_tags()
    listed = _drive(_registry(spec))
    if listed:
        return listed
    _known(spec).clear()  # this connection registers its partitions again
    found = _drive(_scanned_tags(spec))
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


def _scan(pattern: str) -> _Steps[list[bytes]]:
    """Every key matching a pattern, by SCAN (never KEYS)."""
    denied = (
        f"listing the keys {pattern} needs SCAN, which the server's ACL refuses this user (a "
        "tenant user sweeps its own partition with Model.sweep_expired(<partition values>); "
        "check_indexes() and delete_all() are for an administrator)"
    )
    keys: list[bytes] = []
    for node in (yield _PRIMARIES):
        cursor = 0
        while True:
            scan = ("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            ((cursor, batch),) = yield _Read([scan], f"SCAN {pattern}", denied, node)
            keys += batch
            if int(cursor) == 0:
                break
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


def _tag_keys(tag: str) -> _Steps[list[bytes]]:
    return _scan(tag + ":*")  # a tag holds escaped text only: no glob characters


def unregistered(spec: ModelSpec, tag: str) -> None:
    """Note that a partition left the registry (its data was erased): this connection
    registers it again before its next write."""
    _known(spec).pop(tag, None)


def _record_ids(tag: str, keys: list[bytes]) -> list[tuple[bytes, str]]:
    """The record keys among ``keys`` with their ids."""
    prefix = f"{tag}:r:".encode()
    return [(k, k[len(prefix) :].decode()) for k in keys if k.startswith(prefix)]


def _chunks(items: Sequence[T], size: int = _BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- check, clean and rebuild ---------------------------------------------------------------

Progress = Callable[[int, int | None], None]
"""A progress callback: ``(units done, total units or None)``, called once per batch."""


class IndexReport(Mapping[str, int]):
    """What ``check_indexes()`` found, or what ``clean_indexes()`` removed: a count per entry.

    The entries: ``class_set`` (ids in a tag's id set without a record, and records missing
    from it), ``records`` (hashes whose key fields do not give their key), one per index kind
    (``key``, ``indexed``, ``composite``, ``unique``, ``sorted``, ``geo``, ``prefix``,
    ``bloom``, ``cooccurrence``, ``ledger``, and those of kinds registered by extensions),
    ``expiry`` and ``partitions``; ``total`` sums them. Immutable. It reads as the ``dict`` of
    earlier versions: ``report["sorted"]``, iteration over the entries and ``total``, and
    ``report == {...}``.
    """

    __slots__ = ("_counts",)
    _counts: Mapping[str, int]

    def __init__(self, counts: Mapping[str, int]) -> None:
        entries = {name: int(n) for name, n in counts.items() if name != "total"}
        total = {"total": sum(entries.values())}
        object.__setattr__(self, "_counts", MappingProxyType(entries | total))

    @property
    def total(self) -> int:
        """The sum of every entry's count."""
        return self._counts["total"]

    @property
    def counts(self) -> Mapping[str, int]:
        """The count of each entry, ``total`` aside."""
        return {name: n for name, n in self._counts.items() if name != "total"}

    def __getitem__(self, entry: str) -> int:
        return self._counts[entry]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an IndexReport is immutable (setting {name!r})")

    def __reduce__(self) -> tuple[type[IndexReport], tuple[dict[str, int]]]:
        return IndexReport, (dict(self._counts),)

    def __repr__(self) -> str:
        found = "".join(f", {k}={n}" for k, n in self.counts.items() if n)
        return f"IndexReport(total={self.total}{found})"


def report_entries() -> tuple[str, ...]:
    """The entries of a ``check_indexes()`` report: the record-level ones and each kind's."""
    by_kinds = (name for kind in _index.kinds() for name in kind.reports)
    return ("class_set", "records", *dict.fromkeys(by_kinds), "expiry", "partitions")


def _batch_size(spec: ModelSpec, method: str, batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ModelError(
            f"{spec.name}.{method}(): batch_size must be an int >= 1, got {batch_size!r}"
        )
    return batch_size


@dataclass(slots=True)
class _Run:
    """One check, clean or rebuild: its batch size, and its progress in records read."""

    model: type[Model]
    spec: ModelSpec
    batch_size: int
    progress: Progress | None
    total: int | None = None
    done: int = 0

    def advance(self, records: int) -> None:
        self.done += records
        if self.progress is not None:
            self.progress(self.done, self.total)


@dataclass(frozen=True, slots=True)
class _Tag:
    """One hash tag of a model, as SCAN found it."""

    tag: str
    keys: list[bytes]
    records: list[tuple[bytes, str]]  # record keys with their ids


def _survey(run: _Run, passes: int) -> _Steps[tuple[list[_Tag], int]]:
    """Every tag of the model with its keys; and the partitions holding keys that the model's
    registry does not list (0 when it is absent: the next sweep_expired() restores it). Sets
    the run's total: the records read ``passes`` times."""
    scanned, listed = yield from _found_and_listed(run.spec)
    found: list[_Tag] = []
    for tag in sorted(scanned | listed):
        keys = yield from _tag_keys(tag)
        found.append(_Tag(tag, keys, _record_ids(tag, keys)))
    run.total = passes * sum(len(t.records) for t in found)
    return found, len(scanned - listed) if listed else 0


def _check(run: _Run) -> _Steps[IndexReport]:
    """``check_indexes()``: count the faults of every tag."""
    found, unlisted = yield from _survey(run, 1)
    report: Counter[str] = Counter(dict.fromkeys(report_entries(), 0))
    report["partitions"] = unlisted
    for tag in found:
        yield from _inspect(run, tag, report, clean=False)
    return IndexReport(report)


def _clean(run: _Run, passes: int = 1) -> _Steps[IndexReport]:
    """``clean_indexes()``: remove the stale entries of every tag, re-decided on the server."""
    found, _ = yield from _survey(run, passes)
    removed: Counter[str] = Counter(dict.fromkeys(report_entries(), 0))
    for tag in found:
        records, stale = yield from _inspect(run, tag, Counter(), clean=True)
        digests = {
            rid: digest(run.spec, _stored(records.get(rid, {})))
            for rid in {s.target for _, _, s in stale}
        }
        for batch in _chunks(stale, run.batch_size):
            flags = yield _clean_call(run.spec, tag.tag, batch, digests)
            removed.update(entry for (entry, _, _), flag in zip(batch, flags, strict=True) if flag)
    return IndexReport(removed)


# A stale entry to remove: its report entry, the Redis type of its key, and the entry itself.
_Doomed = tuple[str, str, Stale]


def _inspect(
    run: _Run, found: _Tag, report: Counter[str], *, clean: bool
) -> _Steps[tuple[Records, list[_Doomed]]]:
    """Read a tag's records and index keys; add the faults to ``report``; the records (by id:
    their texts by field) and, to ``clean``, the entries to remove (the faults of the indexes
    are then not counted)."""
    spec, tag = run.spec, found.tag
    records: dict[str, dict[str, str]] = {}
    for chunk in _chunks(found.records, run.batch_size):
        replies = yield _Read([("HGETALL", k) for k, _ in chunk], f"reading the records of {tag}")
        records.update(
            (rid, _texts(flat)) for (_, rid), flat in zip(chunk, replies, strict=True) if flat
        )
        run.advance(len(chunk))

    names = [k.decode() for k in found.keys]
    all_ids, expiry = _keys.all_ids(tag), _keys.expiry(tag)
    wanted: list[tuple[str, list[str]]] = [("set", [all_ids]), ("zset", [expiry])]
    wanted += ((ix.kind.redis_type, ix.kind.stored_keys(tag, ix, names)) for ix in spec.indexes)
    commands = [_held_read(t, key) for t, keys in wanted for key in keys]
    replies = yield _Read([*commands, ("TIME",)], f"reading the indexes of {tag}")
    seconds, micros = replies.pop()
    now = int(seconds) * 1000 + int(micros) / 1000
    held: list[dict[str, Any]] = []
    for redis_type, keys in wanted:
        held.append(_held(redis_type, keys, replies[: len(keys)]))
        del replies[: len(keys)]

    doomed: list[_Doomed] = []
    members: set[str] = held[0][all_ids]
    report["class_set"] += len(members ^ records.keys())
    doomed += (("class_set", "set", Stale((all_ids, m), m)) for m in members - records.keys())
    expires = {rid: at for rid, v in records.items() if (at := _expiry(v)) is not None}
    expected = Counter((expiry, rid, at) for rid, at in expires.items())
    present = Counter((expiry, m, score) for m, score in held[1][expiry].items())
    report["expiry"] += difference(expected, present)
    doomed += (
        ("expiry", "zset", Stale(e, e[1]))
        for e in present - expected
        if EXP not in records.get(e[1], {})
    )
    # A record typedis cannot read is counted under "records"; the indexes are judged without
    # it (its entries count as orphans) and clean_indexes() leaves its entries.
    unreadable = {rid for rid, v in records.items() if EXP in v and _expiry(v) is None}
    try:
        faults, stale = _by_index(spec, tag, _without(records, unreadable), held[2:], now, clean)
    except (ValidationError, ValueError):  # a value typedis cannot read: find the records
        unreadable = {rid for rid, v in records.items() if not _readable(run.model, tag, rid, v)}
        faults, stale = _by_index(spec, tag, _without(records, unreadable), held[2:], now, clean)
    lost = {rid for rid, v in records.items() if not _locates(spec, tag, rid, v)}
    report["records"] += len(lost | unreadable)
    report.update(faults)
    return records, doomed + [d for d in stale if d[2].target not in unreadable]


def _without(records: Records, ids: set[str]) -> Records:
    return {rid: v for rid, v in records.items() if rid not in ids} if ids else records


def _by_index(
    spec: ModelSpec,
    tag: str,
    records: Records,
    held: Sequence[Mapping[str, Any]],
    now: float,
    clean: bool,
) -> tuple[Counter[str], list[_Doomed]]:
    """The faults of each index (by report entry); or, to ``clean``, the entries to remove."""
    faults: Counter[str] = Counter()
    doomed: list[_Doomed] = []
    for index, contents in zip(spec.indexes, held, strict=True):
        kind = index.kind
        if clean:
            stale = kind.stale(spec, tag, index, records, contents, now)
            doomed += ((index.report, kind.redis_type, s) for s in stale)
        else:
            faults[index.report] += kind.check(spec, tag, index, records, contents, now)
    return faults, doomed


def _expiry(texts: Mapping[str, str]) -> float | None:
    """A record's expiry (epoch ms); None if it has none or one typedis did not write."""
    try:
        return float(texts[EXP])
    except (KeyError, ValueError):
        return None


def _readable(model: type[Model], tag: str, rid: str, texts: Mapping[str, str]) -> bool:
    """Whether typedis reads a record back (its values validate, its expiry is a number)."""
    if EXP in texts and _expiry(texts) is None:
        return False
    row = [None if (t := texts.get(n)) is None else _raw(t) for n in model.__typedis_spec__.read]
    try:
        _store.hydrate(model, row, (tag, rid))
    except CorruptRecord:
        return False
    return True


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _stored(texts: Mapping[str, str]) -> dict[bytes, bytes]:
    """A record's texts by field as its hash holds them (``_texts`` undone)."""
    return {f.encode(): _raw(v) for f, v in texts.items()}


def _texts(flat: Mapping[bytes, bytes]) -> dict[str, str]:
    """A record's hash as texts by field (bytes that are not UTF-8 kept, surrogate-escaped)."""
    return {f.decode(): v.decode("utf-8", "surrogateescape") for f, v in flat.items()}


def _locates(spec: ModelSpec, tag: str, rid: str, values: Mapping[str, str]) -> bool:
    """Whether a record's stored key values give its id and tag."""
    key_texts = [values.get(k) for k in spec.keys]
    part_texts = [values.get(p) for p in spec.partition]
    if None in key_texts or None in part_texts:
        return False
    if spec.shards:
        own = _keys.shard_tag(spec.name, _keys.shard_of(rid, spec.shards))
    else:
        own = _keys.tag(spec.name, part_texts)  # type: ignore[arg-type]
    return _keys.record_id(key_texts) == rid and own == tag  # type: ignore[arg-type]


def digest(spec: ModelSpec, stored: Mapping[bytes, bytes]) -> str:
    """A digest of a record's expiry and ``spec.read`` values (its hash as read; empty: an
    absent record), as ``digest_of()`` of lua/_lib.lua computes it on the server."""
    parts: list[bytes] = []
    for name in _digested(spec):
        value = stored.get(name)
        parts.append(b"-" if value is None else b"+%d:%s" % (len(value), value))
    return hashlib.sha1(b"".join(parts)).hexdigest()


@functools.cache
def _digested(spec: ModelSpec) -> tuple[bytes, ...]:
    return tuple(name.encode() for name in (EXP, *spec.read))


def _held_read(redis_type: str, key: str) -> Command:
    """The command reading an index key of a Redis type whole."""
    if redis_type == "zset":
        return ("ZRANGE", key, 0, -1, "WITHSCORES")
    return ({"set": "SMEMBERS", "hash": "HGETALL", "string": "GET"}[redis_type], key)


def _held(redis_type: str, keys: Sequence[str], replies: Sequence[Any]) -> dict[str, Any]:
    """The contents of index keys of one Redis type: member sets, hashes, zset scores or strings
    (a bitmap's bytes)."""
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


def _clean_call(
    spec: ModelSpec, tag: str, batch: Sequence[_Doomed], digests: Mapping[str, str]
) -> _scripts.Call[list[int]]:
    """The call removing a batch of stale entries of one tag (lua/clean.lua)."""
    args: list[Arg] = [tag]
    for _, redis_type, ((key, member, *held), target) in batch:
        guard = repr(held[0]) if held and redis_type == "zset" else held[0] if held else ""
        args += [redis_type, key, member, guard, target, digests[target]]
    function = _lua.library(spec).function("clean")
    return _scripts.Call(function, [_keys.all_ids(tag)], args, _flags, write=True)


def _flags(reply: list[Any]) -> list[int]:
    return [int(flag) for flag in reply]


# Passes of rebuild_indexes() over a batch whose records were written meanwhile, after which
# those still changing are left to the writer (a save indexes what it writes).
_ROUNDS = 5


def _rebuild(run: _Run, model: type[Model]) -> _Steps[int]:
    """``rebuild_indexes()``: remove the stale entries, then index every record from its hash;
    unreadable records are skipped, then reported by ``CorruptRecord``."""
    yield from _clean(run, passes=2)
    found, _ = yield from _survey(run, 2)
    if run.spec.partition and found:
        key = _keys.partitions(run.spec.name)
        yield _Read([("SADD", key, *(t.tag for t in found))], f"registering partitions in {key}")
    indexed = 0
    unreadable: list[CorruptRecord] = []
    for tag in found:
        for chunk in _chunks(tag.records, run.batch_size):
            pending: Sequence[tuple[bytes, str]] = chunk
            for _ in range(_ROUNDS):
                replies = yield _Read([("HGETALL", k) for k, _ in pending], f"reading {tag.tag}")
                rows = [
                    (rid, flat) for (_, rid), flat in zip(pending, replies, strict=True) if flat
                ]
                call = _reindex_call(model, tag.tag, rows, unreadable)
                if call is None:
                    break
                done, changed, damaged = yield call
                indexed += done
                unreadable += (_damaged(run.spec, tag.tag, rid) for rid in damaged)
                pending = [(k, rid) for k, rid in pending if rid in changed]
                if not pending:
                    break
            run.advance(len(chunk))
    if unreadable:
        first = unreadable[0]
        raise CorruptRecord(
            f"{run.spec.name}.rebuild_indexes(): {len(unreadable)} record(s) typedis cannot read "
            f"were left out of the indexes ({indexed} were indexed); the first: {first}"
        ) from first
    return indexed


def _reindex_call(
    model: type[Model],
    tag: str,
    rows: Sequence[tuple[str, Mapping[bytes, bytes]]],
    unreadable: list[CorruptRecord],
) -> _scripts.Call[tuple[int, set[str], list[str]]] | None:
    """The call indexing records from what they hold (lua/reindex.lua), or None for none; a
    record typedis cannot read goes to ``unreadable``."""
    spec = model.__typedis_spec__
    keys: list[str] = []
    args: list[Arg] = [tag]
    for rid, flat in rows:
        texts = _texts(flat)
        try:
            if not _locates(spec, tag, rid, texts):
                raise CorruptRecord(
                    "holds key fields that do not give its key",
                    model=spec.name,
                    key=_keys.record(tag, rid),
                )
            obj = _store.hydrate(model, [flat.get(n.encode()) for n in spec.read], (tag, rid))
        except CorruptRecord as error:
            unreadable.append(error)
            continue
        values = vars(obj)
        keys.append(_keys.record(tag, rid))
        args += [rid, digest(spec, flat)]
        args += (encode(values[name]) for name, encode in spec.arguments)
    if not keys:
        return None
    function = _lua.library(spec).function("reindex")
    return _scripts.Call(function, keys, args, _reindexed, write=True)


def _reindexed(reply: list[Any]) -> tuple[int, set[str], list[str]]:
    return int(reply[0]), {rid.decode() for rid in reply[1]}, [rid.decode() for rid in reply[2]]


def _damaged(spec: ModelSpec, tag: str, rid: str) -> CorruptRecord:
    return CorruptRecord(
        "holds an expiry typedis did not write, or is not a hash",
        model=spec.name,
        key=_keys.record(tag, rid),
    )


def check_indexes(model: type[Model], batch_size: object, progress: Progress | None) -> IndexReport:
    """Count orphaned, missing or wrong index entries of each kind, without writing anything;
    ``partitions``: the partitions holding keys that the model's registry does not list."""
    return _drive(_check(_start(model, "check_indexes", batch_size, progress)))


async def acheck_indexes(
    model: type[Model], batch_size: object, progress: Progress | None
) -> IndexReport:
    """``check_indexes()`` on the asyncio client."""
    return await _adrive(_check(_start(model, "acheck_indexes", batch_size, progress)))


def clean_indexes(model: type[Model], batch_size: object, progress: Progress | None) -> IndexReport:
    """Remove the entries pointing at no record or at a wrong value; what was removed."""
    return _drive(_clean(_start(model, "clean_indexes", batch_size, progress)))


async def aclean_indexes(
    model: type[Model], batch_size: object, progress: Progress | None
) -> IndexReport:
    """``clean_indexes()`` on the asyncio client."""
    return await _adrive(_clean(_start(model, "aclean_indexes", batch_size, progress)))


def rebuild_indexes(model: type[Model], batch_size: object, progress: Progress | None) -> int:
    """Re-derive every index from the record hashes; the number of records indexed."""
    return _drive(_rebuild(_start(model, "rebuild_indexes", batch_size, progress), model))


async def arebuild_indexes(
    model: type[Model], batch_size: object, progress: Progress | None
) -> int:
    """``rebuild_indexes()`` on the asyncio client."""
    run = _start(model, "arebuild_indexes", batch_size, progress)
    return await _adrive(_rebuild(run, model))


def _start(model: type[Model], method: str, batch_size: object, progress: Progress | None) -> _Run:
    spec = model.__typedis_spec__
    if progress is not None and not callable(progress):
        raise ModelError(f"{spec.name}.{method}(): progress must be a function, got {progress!r}")
    return _Run(model, spec, _batch_size(spec, method, batch_size), progress)


def delete_all(model: type[Model]) -> int:
    """Delete every record of the model (all partitions) with its index entries.

    Records go through the delete script, so each disappears with its entries atomically;
    index keys left without records (from writes outside typedis) are removed afterwards. A
    change log (``changes=``) stays, holding the delete events.
    Not meant to run while other clients write the same model.
    """
    spec = model.__typedis_spec__
    removed = 0
    for tag in tags(spec):
        located = [(tag, rid) for _, rid in _record_ids(tag, _drive(_tag_keys(tag)))]
        for batch in _chunks(located):
            removed += _scripts.run(_store.delete_call(spec, batch))
        kept = {f"{tag}:{index.suffix}" for index in spec.indexes if index.kind.kept}
        leftovers = [key for key in _drive(_tag_keys(tag)) if key.decode() not in kept]
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
    if partition or not (spec.partition or spec.shards):
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
    if spec.shards and not partition:
        return sum(_scripts.run_many([count_call(spec, t, exact) for t in spec.shard_tags()]))
    return _scripts.run(count_call(spec, tag_for(spec, partition), exact))


def prune_functions(*models: type[Model]) -> list[str]:
    """Delete typedis' Redis function libraries except those of ``models`` (from every primary
    of a cluster); return their names.

    Each model's write functions live in a library named by a digest of its code, so a changed
    model or a new typedis version loads a new library and the old one stays on the server.
    Pruning is safe while clients run: a client whose library is gone loads it again on its
    next call (nothing runs against a missing function), or, if its ACL user may not load
    functions, raises ``PermissionDenied`` until ``install_functions()`` installs it.
    """
    keep = {_lua.library(m.__typedis_spec__).name for m in models}
    pattern = _lua.LIBRARY_PREFIX + "*"
    pruned: set[str] = set()
    for node in _primaries():  # on a cluster, each primary holds its own copy
        with _scripts.typed_errors("FUNCTION LIST"):
            listed: list[dict[bytes, Any]] = _scripts.command(
                node, "FUNCTION", "LIST", "LIBRARYNAME", pattern
            )
        names = [entry[b"library_name"].decode() for entry in listed]
        # The server matches LIBRARYNAME without regard to case; typedis' prefix is lowercase.
        for name in sorted(n for n in names if n.startswith(_lua.LIBRARY_PREFIX)):
            if name not in keep:
                _delete_library(node, name)
                pruned.add(name)
    return sorted(pruned)


def _delete_library(node: _scripts.Commands, name: str) -> None:
    try:
        _scripts.command(node, "FUNCTION", "DELETE", name)
    except redis.ResponseError as error:  # deleted meanwhile by another pruner
        if "not found" not in str(error).lower():
            raise _scripts.typed(error, f"FUNCTION DELETE {name}", write=True) from error
    except redis.RedisError as error:
        raise _scripts.typed(error, f"FUNCTION DELETE {name}", write=True) from error


def install_functions(*models: type[Model]) -> list[str]:
    """Load the function libraries of ``models`` on the server (every primary of a cluster);
    return their names.

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
    for node, (name, source) in itertools.product(_primaries(), libraries.items()):
        try:
            _scripts.command(node, "FUNCTION", "LOAD", "REPLACE", source)
        except NoPermissionError as error:
            raise PermissionDenied(
                f"install_functions(): loading {name} needs FUNCTION LOAD, which the server's "
                "ACL refuses this user: run it as an administrator"
            ) from error
        except redis.RedisError as error:
            raise _scripts.typed(error, f"FUNCTION LOAD {name}", write=True) from error
    return list(libraries)
