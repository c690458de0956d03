"""Relationships: ``Linked[Target]``, the value of a ``Link[Target]`` field.

A link stores the target record's id (its escaped key values), is indexed like an ``Indexed``
field so queries can filter by the related record, and loads the target only when asked
(``order.customer.get()``). It dumps as the target's key value, which validates back to it.

A plain value: it holds the target model and id, and loads through the model's own query,
so importing it (as the markers do) loads nothing that talks to Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args

from pydantic import GetCoreSchemaHandler, ValidationError
from pydantic_core import core_schema

from . import _keys
from ._errors import ModelError, NotFound, TypedisError

if TYPE_CHECKING:
    from ._model import Model

TM = TypeVar("TM", bound="Model")
Target = TypeVar("Target", bound="Model")


class Linked(Generic[TM]):
    """A reference to one record of ``model``, loaded on demand."""

    __slots__ = ("id", "model")

    def __init__(self, model: type[TM], record_id: str) -> None:
        self.model = model
        self.id = record_id

    @staticmethod
    def to(target: Target) -> Linked[Target]:
        """The link to a record instance."""
        return Linked(type(target), target.__typedis_spec__.locate(vars(target))[1])

    @property
    def key(self) -> str | tuple[str, ...]:
        """The linked record's key value (a tuple of them for several key fields), as text."""
        parts = tuple(_keys.unescape(p) for p in self.id.split(":"))
        return parts[0] if len(parts) == 1 else parts

    def get(self) -> TM:
        """Load the linked record.

        Raises:
            NotFound: it is not stored (deleted or expired).
        """
        return self._found(self.model.query.get_many([self.key])[0])

    async def aget(self) -> TM:
        """``get()`` on the asyncio client."""
        return self._found((await self.model.query.aget_many([self.key]))[0])

    def _found(self, found: TM | None) -> TM:
        if found is None:
            raise NotFound(f"linked {self.model.__name__} {self.id!r} is not stored")
        return found

    def __eq__(self, other: object) -> bool:
        theirs: Any = other
        return isinstance(other, Linked) and _identity(theirs) == (self.model, self.id)

    def __hash__(self) -> int:
        return hash((self.model, self.id))

    def __repr__(self) -> str:
        return f"Linked({self.model.__name__}, {self.id!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        args = get_args(source)
        if not args:
            raise ModelError("Linked needs its target model: Link[Target]")
        target: type[Model] = args[0]

        def validate(value: Any) -> Linked[Any]:
            return link_to(target, value)

        # In and out, a link is its target's key as text (a list of texts for several key
        # fields): that is its JSON schema in both modes, e.g. in FastAPI's OpenAPI document.
        keys = len(target.__typedis_spec__.keys)
        text = core_schema.str_schema()
        key = text if keys == 1 else core_schema.tuple_schema([text] * keys)
        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda link: link.key, return_schema=key, when_used="always"
            ),
            json_schema_input_schema=key,
        )


def _identity(link: Linked[Any]) -> tuple[type[Model], str]:
    return link.model, link.id


def link_to(target: type[Model], value: Any) -> Linked[Any]:
    """A link to ``target`` from a record, a link, a stored id (bytes) or key values."""
    spec = target.__typedis_spec__
    given: Any = value  # stays Any: the isinstance checks below narrow value only
    if isinstance(value, Linked):
        if _identity(given)[0] is not target:
            raise ValueError(f"{given!r} is not a link to {target.__name__}")
        link: Linked[Any] = given
        return link
    if isinstance(value, target):
        return Linked(target, spec.locate(vars(value))[1])
    if isinstance(value, bytes):  # read back from Redis: the stored id
        return Linked(target, value.decode())
    keys: Sequence[Any] = tuple(given) if isinstance(value, tuple | list) else (given,)
    try:
        located = spec.locate(spec.key_values(keys, {}))
    except (TypedisError, ValidationError) as error:
        raise ValueError(f"not a key of {target.__name__}: {value!r} ({error})") from None
    return Linked(target, located[1])
