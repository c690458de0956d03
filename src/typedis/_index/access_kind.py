"""Kind ``access``: the sorted set of an ``AccessCount`` field, and the staging of reads.

Key ``<tag>:z:<field>``, scored by the field (the record's confirmed read count) as kind
``sorted`` does, so rank orders can weigh access frequency. Its read hook stages one read of
every record a query or load returns, in hidden fields of the record's hash (see
``lua/index/access.lua``); ``typedis.memory`` confirms or discards them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, ClassVar

from .._defaults import Defaults
from .._errors import ModelError
from .._markers import Marker
from .sorted_kind import SORTED, SortedKind

if TYPE_CHECKING:
    from .._spec import FieldSpec

# read times kept per record, staged and confirmed (the most recent ones); the shipped default:
# options() reads Defaults.ACCESS_LOG_SIZE when the model class is created
LOG_SIZE = Defaults.ACCESS_LOG_SIZE


@dataclass(frozen=True, slots=True)
class AccessCountMarker(Marker):
    """Marks the int field that counts a record's confirmed reads (``typedis.memory``)."""

    kind: ClassVar[str] = "access_count"


class AccessKind(SortedKind):
    name = "access"
    markers: ClassVar[tuple[type[Marker], ...]] = (AccessCountMarker,)
    on_read = True

    def check_field(self, where: str, field: FieldSpec) -> None:
        if field.annotation is not int or field.nullable:
            raise ModelError(f"{where}: AccessCount fields need an int (a count of reads)")

    def options(self, field: FieldSpec) -> Mapping[str, str | float]:
        return {"log": Defaults.ACCESS_LOG_SIZE}

    @cache  # noqa: B019 (kinds are module-level singletons)
    def lua(self) -> str:
        """The sorted kind's Lua, then ``lua/index/access.lua``, which reuses its functions."""
        own = (resources.files("typedis") / "lua" / "index" / "access.lua").read_text()
        return f"{SORTED.lua()}\n{own}"


ACCESS = AccessKind()
