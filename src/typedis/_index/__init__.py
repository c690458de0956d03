"""The registry of index kinds: one module per kind, each declaring all of its behaviour.

``register(kind)`` adds a kind (the built-in ones register below); ``_schema`` asks the registry
which kinds index a field, the planner which kind serves a condition, the scripts which Lua to
assemble and ``check_indexes()`` how to verify each index. See ``docs/architecture.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

from .._errors import ModelError
from .._markers import Marker
from ._kind import AddLua, Arg, Held, IndexKind, Records, Shape
from .changes_kind import CHANGES, ChangeStream
from .decay_kind import DECAY
from .geo_kind import GEO
from .prefix_kind import PREFIX
from .set_kind import SET
from .sorted_kind import SORTED
from .unique_kind import UNIQUE

_KINDS: dict[str, IndexKind] = {}
_version = 0  # bumped by register(): caches of assembled Lua key on it


def register(kind: IndexKind) -> IndexKind:
    """Add an index kind; its name must be new and its markers unclaimed by another kind."""
    global _version
    if kind.name in _KINDS:
        raise ModelError(f"index kind {kind.name!r} is already registered")
    for other in _KINDS.values():
        shared = set(kind.markers) & set(other.markers)
        if shared:
            names = ", ".join(sorted(m.__name__ for m in shared))
            raise ModelError(f"index kind {kind.name!r}: {names} already belong to {other.name!r}")
    _KINDS[kind.name] = kind
    _version += 1
    return kind


def kinds() -> Iterator[IndexKind]:
    """Every registered kind, in registration order."""
    return iter(tuple(_KINDS.values()))


def version() -> int:
    """Changes whenever a kind is registered."""
    return _version


def for_marker(marker: Marker | None) -> IndexKind | None:
    """The kind that indexes fields with this marker (None for Key and plain fields)."""
    return next((k for k in _KINDS.values() if isinstance(marker, k.markers)), None)


def named(name: str) -> IndexKind:
    """The registered kind called ``name``."""
    return _KINDS[name]


def serving_node(op: str) -> IndexKind | None:
    """The kind whose Lua evaluates query node ``op``."""
    return next((k for k in _KINDS.values() if op in k.nodes), None)


for _builtin in (SET, UNIQUE, SORTED, DECAY, GEO, PREFIX, CHANGES):
    register(_builtin)

__all__ = [
    "CHANGES",
    "DECAY",
    "GEO",
    "PREFIX",
    "SET",
    "SORTED",
    "UNIQUE",
    "AddLua",
    "Arg",
    "ChangeStream",
    "Held",
    "IndexKind",
    "Records",
    "Shape",
    "for_marker",
    "kinds",
    "named",
    "register",
    "serving_node",
    "version",
]
