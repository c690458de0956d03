"""Existence filters: Bloom filters fed by ``Fingerprint`` fields, queried in one round trip.

A model field marked ``Annotated[str, Fingerprint(...)]`` (or ``Fingerprinted[str]`` for the
defaults) adds the tokens of its text to a Bloom filter in the same atomic script that saves
the record (index kind ``bloom``, ``typedis/_index/bloom_kind.py``). The functions below ask the
filter whether a fingerprint may have been added: ``False`` is certain, ``True`` is wrong with
probability about ``error_rate`` while the filter holds at most ``capacity`` tokens.

Examples:
    >>> class Note(Model):
    ...     id: AutoKey = field(default_factory=new_id)
    ...     topic: Fingerprinted[str]
    >>> note = Note(topic="kubernetes deployment").save()
    >>> might_exist(Note.topic, "Kubernetes")
    True
    >>> might_exist_batch(Note.topic, ["deployment", "postgres"])
    {'deployment': True, 'postgres': False}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Generic, NamedTuple, TypeVar, cast

from .. import _index, _lua, _maintenance, _scripts
from .._errors import CorruptRecord, ModelError, QueryError
from .._index.bloom_kind import BLOOM, Fingerprint, FingerprintRef, Sizing, sizing_of
from .._scripts import arun, run

if TYPE_CHECKING:
    from .._model import Model

M = TypeVar("M", bound="Model")
R = TypeVar("R")
T = TypeVar("T")

_index.register(BLOOM)
_PROBE = _lua.script("bloom_probe")

if TYPE_CHECKING:
    from typing import overload

    class Fingerprinted(Generic[T]):
        """A str field feeding a Bloom filter with the default sizing (1% at 100,000 tokens)."""

        @overload
        def __get__(self, obj: None, owner: type[M]) -> FingerprintRef[M]: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> T: ...
        def __get__(self, obj: object, owner: Any) -> Any: ...
        def __set__(self, obj: object, value: T) -> None: ...
else:
    Fingerprinted = Annotated[T, Fingerprint()]


class _Filter(NamedTuple):
    key: str  # the bitmap
    where: str  # the call, for messages: "might_exist(Memory.topic)"
    sizing: Sizing


def _filter(what: str, ref: object, partition: object) -> _Filter:
    """The filter ``ref`` names, in one partition."""
    target = _as_ref(ref)
    if target is None:
        raise ModelError(
            f"{what}(): the first argument must be a Fingerprint field reference such as "
            f"Memory.topic, got {ref!r}"
        )
    spec = target.model.__typedis_spec__
    index = spec.index_of(BLOOM.name, target.name)
    assert index is not None  # every Fingerprint field has its filter
    where = f"{what}({target!r})"
    if spec.tag is not None:
        if partition != ():
            raise QueryError(f"{where}: {spec.name} is not partitioned; omit partition=")
        tag = spec.tag
    else:
        values: Sequence[Any] = (
            cast(Sequence[Any], partition) if isinstance(partition, tuple | list) else (partition,)
        )
        if partition == () or len(values) != len(spec.partition):
            raise QueryError(
                f"{where}: {spec.name} is partitioned by {spec.partition}: pass partition= "
                "with one value for each (a tuple when there are several)"
            )
        checked = [
            spec.validator(name).validate_python(value)
            for name, value in zip(spec.partition, values, strict=True)
        ]
        tag = _maintenance.tag_for(spec, checked)
    return _Filter(f"{tag}:{index.suffix}", where, sizing_of(spec.fields[target.name]))


def _as_ref(ref: object) -> FingerprintRef[Model] | None:
    return cast("FingerprintRef[Model]", ref) if isinstance(ref, FingerprintRef) else None


def _texts(what: str, fingerprints: object) -> list[str]:
    if isinstance(fingerprints, str | bytes) or not isinstance(fingerprints, Iterable):
        raise ModelError(f"{what}: fingerprints must be a list of str, got {fingerprints!r}")
    given = list(cast(Iterable[object], fingerprints))
    if not given:
        raise QueryError(f"{what}: fingerprints is empty; give at least one str")
    texts = [t for t in given if isinstance(t, str)]
    if len(texts) < len(given):
        wrong = next(t for t in given if not isinstance(t, str))
        raise ModelError(f"{what}: fingerprints must be str, got {wrong!r}")
    return list(dict.fromkeys(texts))


def filter_at(ref: FingerprintRef[Any], tag: str, what: str) -> _Filter:
    """The filter ``ref`` names in the partition of hash tag ``tag`` (a tag already known)."""
    spec = ref.model.__typedis_spec__
    index = spec.index_of(BLOOM.name, ref.name)
    assert index is not None  # every Fingerprint field has its filter
    return _Filter(f"{tag}:{index.suffix}", f"{what}({ref!r})", sizing_of(spec.fields[ref.name]))


def _probe(
    what: str, ref: object, fingerprints: object, partition: object
) -> _scripts.Call[dict[str, bool]]:
    found = _filter(what, ref, partition)
    return probe_call(found, _texts(found.where, fingerprints))


def probe_call(found: _Filter, texts: list[str]) -> _scripts.Call[dict[str, bool]]:
    """The read answering, for each text, whether it may be in filter ``found``."""
    key, where, sizing = found
    args: list[_scripts.Arg] = [sizing.hashes]
    args += (
        " ".join(str(o) for token in sizing.tokens(t) for o in sizing.offsets(token)) for t in texts
    )

    def done(reply: list[Any]) -> dict[str, bool]:
        _refuse_wrong_type(where, key, reply)
        return {t: bool(hit) for t, hit in zip(texts, reply[1:], strict=True)}

    return _scripts.Call(_PROBE, (key,), args, done, write=False)


def _probe_one(
    what: str, ref: object, fingerprint: object, partition: object
) -> _scripts.Call[bool]:
    """``_probe`` of one fingerprint, answering whether it may exist."""
    if not isinstance(fingerprint, str):
        raise ModelError(f"{what}(): fingerprint must be a str, got {fingerprint!r}")
    call = _probe(what, ref, [fingerprint], partition)
    batch = call.decode
    return _scripts.Call(call.code, call.keys, call.args, lambda r: batch(r)[fingerprint], False)


def _fill(ref: object, partition: object) -> _scripts.Call[float]:
    key, where, sizing = _filter("fill_ratio", ref, partition)

    def done(reply: list[Any]) -> float:
        _refuse_wrong_type(where, key, reply)
        return int(reply[1]) / sizing.bits

    return _scripts.Call(_PROBE, (key,), ("fill",), done, write=False)


def _refuse_wrong_type(where: str, key: str, reply: list[Any]) -> None:
    if reply[0] == b"wrongtype":
        raise CorruptRecord(
            f"{where}: key {key} holds a {reply[1].decode()}, not a Bloom filter bitmap; "
            "delete the key and save the records again to rebuild the filter"
        )


def might_exist(ref: FingerprintRef[M], fingerprint: str, *, partition: object = ()) -> bool:
    """Whether ``fingerprint`` may have been added: ``False`` is certain, ``True`` probable.

    The fingerprint is tokenized as saved texts are; it is a hit when any of its tokens is.

    Args:
        ref: the ``Fingerprint`` field (``Memory.topic``).
        fingerprint: the text to look up.
        partition: the partition's value (a tuple of values for several partition fields);
            required for a partitioned model, which has one filter per partition.

    Raises:
        ModelError: ``ref`` is not a Fingerprint field or ``fingerprint`` not a str.
        QueryError: ``partition`` does not fit the model.
        CorruptRecord: the filter's key holds something other than a bitmap.
        ServerUnavailable: the server could not be reached.
    """
    return run(_probe_one("might_exist", ref, fingerprint, partition))


def definitely_missing(ref: FingerprintRef[M], fingerprint: str, *, partition: object = ()) -> bool:
    """``not might_exist(...)``: True when no saved text had any token of ``fingerprint``."""
    return not run(_probe_one("definitely_missing", ref, fingerprint, partition))


def might_exist_batch(
    ref: FingerprintRef[M], fingerprints: Iterable[str], *, partition: object = ()
) -> dict[str, bool]:
    """``might_exist`` of many fingerprints in one round trip, by fingerprint (deduplicated).

    Raises:
        QueryError: ``fingerprints`` is empty; or as ``might_exist``.
    """
    return run(_probe("might_exist_batch", ref, fingerprints, partition))


def might_exist_count(
    ref: FingerprintRef[M], fingerprints: Iterable[str], *, partition: object = ()
) -> int:
    """How many of the (distinct) ``fingerprints`` may exist, in one round trip."""
    return sum(run(_probe("might_exist_count", ref, fingerprints, partition)).values())


def fill_ratio(ref: FingerprintRef[M], *, partition: object = ()) -> float:
    """The share of the filter's bits that are set, in [0, 1] (one BITCOUNT).

    Near 0.5 the filter holds about ``capacity`` tokens; beyond, false positives exceed
    ``error_rate``.
    """
    return run(_fill(ref, partition))


async def amight_exist(ref: FingerprintRef[M], fingerprint: str, *, partition: object = ()) -> bool:
    """Async ``might_exist``."""
    return await arun(_probe_one("might_exist", ref, fingerprint, partition))


async def adefinitely_missing(
    ref: FingerprintRef[M], fingerprint: str, *, partition: object = ()
) -> bool:
    """Async ``definitely_missing``."""
    return not await arun(_probe_one("definitely_missing", ref, fingerprint, partition))


async def amight_exist_batch(
    ref: FingerprintRef[M], fingerprints: Iterable[str], *, partition: object = ()
) -> dict[str, bool]:
    """Async ``might_exist_batch``."""
    return await arun(_probe("might_exist_batch", ref, fingerprints, partition))


async def amight_exist_count(
    ref: FingerprintRef[M], fingerprints: Iterable[str], *, partition: object = ()
) -> int:
    """Async ``might_exist_count``."""
    return sum((await arun(_probe("might_exist_count", ref, fingerprints, partition))).values())


async def afill_ratio(ref: FingerprintRef[M], *, partition: object = ()) -> float:
    """Async ``fill_ratio``."""
    return await arun(_fill(ref, partition))
