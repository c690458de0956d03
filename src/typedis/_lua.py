"""The server-side code: Lua sources assembled into scripts and per-model function libraries.

A model's write operations (``lua/save.lua``, ``save_many``, ``delete``, ``incr``, ``sweep``,
``touch``, the read by key ``load`` (the same code without ``no-writes``, ``load_reads``, for a
model with a kind that hooks reads), and any operation a feature registers with
``operation()``) become the functions of one Redis function library per model. The library is
assembled from the model's layout (``SPEC``), ``lua/_base.lua``, the index library
``lua/_lib.lua``, the Lua of each index kind the model uses (``lua/index/<kind>.lua``) and the
from . import _codegen

Pure: nothing here talks to Redis (``_scripts`` runs the code).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from . import _codegen
from ._errors import ModelError
from ._spec import IndexSpec, ModelSpec

LIBRARY_PREFIX = "td_"  # every typedis function library's name starts with it


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script sent with EVALSHA (EVAL when the server lacks it)."""

    name: str
    text: str
    sha: str

    @classmethod
    def of(cls, name: str, text: str) -> Script:
        return cls(name, text, hashlib.sha1(text.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class Function:
    """A function of a model's Redis function library, called with FCALL.

    The library is loaded (FUNCTION LOAD REPLACE) the first time a server lacks it. A function
    flagged ``allow-oom`` or ``no-writes`` also has its code as a script (``fallback``), sent
    when an out-of-memory server refuses to load the library, as it accepts such a script.
    """

    name: str
    library: str  # the library's name
    source: str  # the library's code
    fallback: Script | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """A server-side model operation: one atomic Lua script, a function of every model library.

    The script sees the model's ``SPEC``, ``_base.lua``, ``_lib.lua`` and its index kinds, and
    must check everything that can fail before its first write (Redis does not roll back).
    """

    name: str
    source: str  # the body; a first line "#!lua flags=..." sets the function's flags


_OPERATIONS: dict[str, Operation] = {}
_registered = 0  # bumped by each new operation: the libraries' cache keys on it


def operation(name: str, source: str | None = None) -> Operation:
    """Register a model operation; ``source`` defaults to the package's ``lua/<name>.lua``.

    Every model library built afterwards holds it as function ``<library>_<name>``; run it with
    ``typedis._scripts.run(Call(library(spec).function(name), keys, args, decode, write=True))``,
    which sends a write once and raises ``OutcomeUnknown`` when its reply is lost.

    Raises:
        ModelError: ``name`` is not a plain identifier or is taken by another operation.
    """
    if not name.isidentifier():
        raise ModelError(f"operation name {name!r} must be an identifier")
    op = Operation(name, _source(name) if source is None else source)
    global _registered
    if _OPERATIONS.get(name, op) != op:
        raise ModelError(f"another model operation is registered as {name!r}")
    if name not in _OPERATIONS:
        _OPERATIONS[name] = op
        _registered += 1
    return op


@dataclass(frozen=True, slots=True)
class Library:
    """One model's function library: its name, its code and its functions by operation."""

    name: str
    source: str
    functions: dict[str, Function]

    def function(self, operation: str) -> Function:
        """The function of a registered operation."""
        return self.functions[operation]


def library(spec: ModelSpec) -> Library:
    """The function library of a model (built once per model and set of operations)."""
    return _library(spec, _registered)  # O(1) whatever the number of operations


@functools.cache
def _library(spec: ModelSpec, registered: int) -> Library:
    # The library's name is a digest of its code, so a changed layout, kind or typedis version
    # loads a library of its own instead of replacing one that older clients still call.
    operations = tuple(_OPERATIONS.values())
    kinds = dict.fromkeys(ix.kind for ix in spec.indexes)
    parts = [spec_source(spec.stored, spec.indexes, spec.hidden), _source("_base"), _source("_lib")]
    parts += (_block(kind.lua()) for kind in kinds)
    parts += (_source("_save"), _codegen.functions(spec))  # FRESH: the generated fast path
    parts.append(f"local QUERY = {_callback(_QUERY_BODY)}\n")  # the query, and list_ids' core
    prelude = "\n".join(parts)
    for op in operations:
        flags, body = _shebang(op.source)
        listed = ", ".join(f"'{f}'" for f in flags)
        parts.append(
            f"redis.register_function{{function_name = LIBRARY .. '_{op.name}', "
            f"flags = {{{listed}}},\ncallback = {_callback(body)}}}\n"
        )
    code = "\n".join(parts)
    name = LIBRARY_PREFIX + hashlib.sha1(code.encode()).hexdigest()[:20]
    head = f"local LIBRARY = '{name}'\n"
    text = f"#!lua name={name}\n{head}{code}"
    functions = {
        op.name: Function(f"{name}_{op.name}", name, text, _fallback(op, head + prelude))
        for op in operations
    }
    if any(kind.on_read for kind in kinds):  # its reads run the kinds' read hooks (and write)
        functions["load"] = functions["load_reads"]
    return Library(name, text, functions)


def script(name: str) -> Script:
    """Script ``lua/<name>.lua`` with ``lua/_base.lua`` before it."""
    return _script(name, _source("_base"), _source(name))


def _script(name: str, prelude: str, source: str) -> Script:
    """A script of ``prelude`` then ``source``, keeping the flags of the source's first line."""
    flags, body = _shebang(source)
    head = f"#!lua flags={','.join(flags)}\n" if flags else ""
    return Script.of(name, f"{head}{prelude}\n{body}")


def _callback(body: str) -> str:
    """An operation's body as the Lua function a library registers."""
    return f"function(KEYS, ARGV)\nNOW_MS = nil\n{body}\nend"


def _fallback(op: Operation, prelude: str) -> Script | None:
    """The script form of an operation that an out-of-memory server still runs, if it has one."""
    flags, body = _shebang(op.source)
    if not {"allow-oom", "no-writes"} & set(flags):
        return None
    source = f"#!lua flags={','.join(flags)}\nreturn ({_callback(body)})(KEYS, ARGV)\n"
    return _script(op.name, prelude, source)


def spec_source(
    fields: Iterable[str], indexes: Iterable[IndexSpec], hidden: Iterable[str] = ()
) -> str:
    """A model's layout as Lua source: ``local SPEC = {fields = {...}, idx = {...}, ...}``.

    ``hidden`` lists the kinds' hidden hash fields; ``read`` (fields, then hidden) is what
    reads return.
    """
    names = ", ".join(map(_lua_str, fields))
    secret = ", ".join(map(_lua_str, hidden))
    read = ", ".join(filter(None, (names, secret)))
    idx = ", ".join(
        f"{{kind = {_lua_str(ix.kind.name)}, suffix = {_lua_str(ix.suffix)}, "
        f"fields = {{{', '.join(map(_lua_str, ix.fields))}}}, opts = {_lua_table(ix)}}}"
        for ix in indexes
    )
    return (
        f"local SPEC = {{fields = {{{names}}}, idx = {{{idx}}}, "
        f"hidden = {{{secret}}}, read = {{{read}}}}}\n"
    )


def _lua_table(index: IndexSpec) -> str:
    items = (f"[{_lua_str(k)}] = {_lua_value(v)}" for k, v in index.options.items())
    return "{" + ", ".join(items) + "}"


def _lua_value(value: str | float) -> str:
    if isinstance(value, str):
        return _lua_str(value)
    if math.isinf(value):
        return "math.huge" if value > 0 else "-math.huge"
    return repr(float(value))


def _lua_str(value: str) -> str:
    """A Lua string literal (every byte outside printable ASCII written as a decimal escape)."""
    return (
        "'"
        + "".join(
            c
            if c.isascii() and c.isprintable() and c not in "'\\"
            else "".join(f"\\{b:03d}" for b in c.encode())
            for c in value
        )
        + "'"
    )


def _block(source: str) -> str:
    """A kind's Lua in a block of its own, so its locals stay its own."""
    return f"do\n{source}\nend\n"


def _shebang(source: str) -> tuple[list[str], str]:
    """The flags of a ``#!lua flags=a,b`` first line, and the rest of the source."""
    if not source.startswith("#!lua flags="):
        return [], source
    line, _, body = source.partition("\n")
    return line.removeprefix("#!lua flags=").split(","), body


@functools.cache
def _source(name: str) -> str:
    return (resources.files("typedis") / "lua" / f"{name}.lua").read_text()


for _name in ("save", "save_many", "delete", "incr", "sweep", "load", "touch"):
    operation(_name)
_QUERY_FLAGS, _QUERY_BODY = _shebang(_source("query"))
operation("query", f"#!lua flags={','.join(_QUERY_FLAGS)}\nreturn QUERY(KEYS, ARGV)")
operation("load_reads", _shebang(_source("load"))[1])  # load, allowed to write (read hooks)
operation("update_many")
operation("create_many", _source("create_many") + _source("save_many"))  # a check, then save_many
operation("list_ids")  # a bulk change's matches, listed by QUERY on the server
operation("clean")  # clean_indexes(): removes entries the client found stale, re-checked
operation("reindex")  # rebuild_indexes(): indexes records from what their hashes hold
