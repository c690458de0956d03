"""Every Redis key name typedis uses, and the escaping of user values inside them.

Layout, for a model ``M`` (tag ``{td:M}``, or ``{td:M:<partition values>}`` for a partitioned
model, ``{td:M:~<n>}`` for shard n of a model declared ``shards=``; all keys of one tag share one
Redis Cluster hash slot)::

    <tag>:r:<id>                  record hash (id: the escaped key values joined by ':')
    <tag>:all                     set of record ids
    <tag>:exp                     sorted set: id -> expiry (epoch ms)
    <tag>:i:<field>:<text>        set of ids per value (Indexed; Key of multi-key models)
    <tag>:c:<f1>+<f2>:<t1>:<t2>   set of ids per combination (composite index)
    <tag>:u:<field>               hash: text -> id (Unique; ``u:<f1>+<f2>`` composite unique)
    <tag>:z:<field>               sorted set: id -> score (Sorted, Decaying, Confidence)
    <tag>:z:<field>:<day>         sorted set: id -> base, per touch day (Decaying, power curve)
    <tag>:z:<field>:days          sorted set of those days (Decaying, power curve)
    <tag>:g:<field>               geo set of ids (Geo)
    <tag>:l:<field>               sorted set of "<text>\\0<id>", all scores 0 (prefix search on
                                  str Key, Indexed and Unique fields)
    <tag>:q:<n>                   scratch sets of one query call, deleted before it returns
    <tag>:bulk:<token>            list of the ids a bulk change by query has still to change
                                  (popped as it runs; gone an hour after it was listed)
    <tag>:changes                 stream: the change log of a model declared with changes=
    {td:M}:partitions             set of the tags of a partitioned model's partitions

``escape`` percent-encodes ``% : { } * ? [ ] \\`` and NUL so that a value can never end a component,
close a hash tag or act as a SCAN pattern; a lone ``%`` (which ``escape`` never yields) stands
for ``None`` inside index keys. The same escaping is written in Lua (``lua/_lib.lua``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

NAMESPACE = "td"
NULL = "%"
EXPIRES = "~exp"  # the hash field of a record's expiry (epoch ms), as lua/_base.lua names it

_ESCAPES = {ord(c): f"%{ord(c):02X}" for c in "%:{}*?[]\\\x00"}
_SPECIAL = re.compile(f"[{re.escape(''.join(map(chr, _ESCAPES)))}]")  # what _ESCAPES replaces
_ESCAPED = re.compile("%([0-9A-F]{2})")


def escape(value: str) -> str:
    """Escape one user value for use inside a key name."""
    # most values hold none of them: a search is several times cheaper than a translate
    return value if _SPECIAL.search(value) is None else value.translate(_ESCAPES)


def unescape(text: str) -> str:
    """The value ``escape`` turned into ``text``."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def tag(model: str, partition: Iterable[str] = ()) -> str:
    """The hash tag of a model, or of one partition of it (texts not yet escaped)."""
    parts = [NAMESPACE, escape(model), *(escape(p) for p in partition)]
    return "{" + ":".join(parts) + "}"


def partition_texts(model: str, tag: str) -> list[str] | None:
    """The partition values (texts) in the tag of one partition of ``model``; None for another
    tag (``tag()`` undone)."""
    head = "{" + f"{NAMESPACE}:{escape(model)}:"
    if not tag.startswith(head) or not tag.endswith("}"):
        return None
    return [unescape(t) for t in tag[len(head) : -1].split(":")]


SHARD = "~"  # starts the shard part of a tag (a model is sharded or partitioned, never both)


def shard_tag(model: str, shard: int) -> str:
    """The hash tag of shard ``shard`` of a model declared with ``shards=``."""
    return "{" + f"{NAMESPACE}:{escape(model)}:{SHARD}{shard}" + "}"


def shard_of(record_id: str, shards: int) -> int:
    """The shard of a record id among ``shards``: CRC-32 of its UTF-8 text, the same in every
    process and Python version (unlike ``hash()``)."""
    return zlib.crc32(record_id.encode()) % shards


def model_of(key: str) -> str:
    """The model name in a key's tag (``{td:Shop}:r:1`` -> ``Shop``); "" for another key."""
    head = f"{{{NAMESPACE}:"
    if not key.startswith(head):
        return ""
    return unescape(re.split("[:}]", key[len(head) :], maxsplit=1)[0])


def record_id(key_texts: Iterable[str]) -> str:
    """A record's id within its tag: its escaped key values joined by ':'."""
    return ":".join(map(escape, key_texts))


def record(tag: str, record_id: str) -> str:
    return f"{tag}:r:{record_id}"


def all_ids(tag: str) -> str:
    return f"{tag}:all"


def expiry(tag: str) -> str:
    return f"{tag}:exp"


def bulk_ids(tag: str, token: str) -> str:
    """The ids a bulk change by query (``Model.bulk_update(query)``...) has still to change."""
    return f"{tag}:bulk:{token}"


CHANGES = "changes"  # the change log's key after ``<tag>:``


def changes(tag: str) -> str:
    """The change log (a stream) of one tag of a model declared with ``changes=``."""
    return f"{tag}:{CHANGES}"


def index_suffix(kind: str, fields: tuple[str, ...]) -> str:
    """The part of an index key after ``<tag>:``, before any value text (see the layout)."""
    name = "+".join(escape(f) for f in fields)
    if kind == "set":
        return f"{'i' if len(fields) == 1 else 'c'}:{name}:"
    return {"uniq": "u:", "z": "z:", "geo": "g:", "lex": "l:"}[kind] + name


def prefix_member(text: str, record_id: str) -> str:
    """A prefix index member: the value's text, NUL, the record id (which never holds NUL)."""
    return f"{text}\x00{record_id}"


def set_index(tag: str, suffix: str, texts: Iterable[str | None]) -> str:
    """The set holding ids whose values have these texts (None for a missing value)."""
    return f"{tag}:{set_index_suffix(suffix, texts)}"


def set_index_suffix(suffix: str, texts: Iterable[str | None]) -> str:
    """``set_index`` without the tag."""
    return suffix + ":".join(NULL if t is None else escape(t) for t in texts)


def unique_field(texts: Iterable[str]) -> str:
    """The field of a unique hash for these value texts."""
    return ":".join(escape(t) for t in texts)


def partitions(model: str) -> str:
    """The registry of a partitioned model's partitions: a set of their tags (maintenance)."""
    return f"{tag(model)}:partitions"


def scan_pattern(model: str) -> str:
    """A SCAN pattern matching every key of a model, all partitions included (maintenance)."""
    return "{" + f"{NAMESPACE}:{escape(model)}" + "[:}]*"
