"""The registry of models: every concrete model by the name its keys carry.

A model registers itself when its class is created (``Model.__pydantic_init_subclass__``);
``typedis.models()`` lists the registry, and the CLI and the sweeper read it. Two classes with
the same name would share every key, so a second one is refused, unless it is the same class
statement run again (same module and qualified name: a notebook cell, ``importlib.reload``),
which replaces the first. docs/models.md, "The registry of models", is the user's guide.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _keys
from ._errors import ModelError

if TYPE_CHECKING:
    from ._model import Model


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model of the registry, as ``typedis.models()`` lists it.

    Attributes:
        model: the class.
        name: the name its keys carry: the class name, or its ``name=`` class keyword.
        keys: the pattern of its keys, ``{td:Shop}:*``, or ``{td:Memory:<agent_id>}:*`` for a
            model partitioned by ``agent_id``.
        partition: its partition fields (``partition=``), () for none.
        ttl: its default time to live in seconds (``ttl=``), None for none.
    """

    model: type[Model]
    name: str
    keys: str
    partition: tuple[str, ...]
    ttl: float | None


_models: dict[str, RegisteredModel] = {}


def register(model: type[Model]) -> None:
    """Add a concrete model, or replace the one its class statement made before.

    Raises:
        ModelError: another class has the model's name.
    """
    spec = model.__typedis_spec__
    if spec.abstract:
        return
    held = _models.get(spec.name)
    if held is not None and _origin(held.model) != _origin(model):
        raise ModelError(
            f"{spec.name}: {_origin(model)} and {_origin(held.model)} are two models of that "
            f"name, and would share every key ({_pattern(spec.name, spec.partition)}); give one a "
            f'distinct name: class {model.__name__}(Model, name="...")'
        )
    _models[spec.name] = RegisteredModel(
        model=model,
        name=spec.name,
        keys=_pattern(spec.name, spec.partition),
        partition=spec.partition,
        ttl=spec.ttl,
    )


def _pattern(name: str, partition: tuple[str, ...]) -> str:
    """``{td:Memory:<agent_id>}:*``: the keys of a model, partition values as placeholders."""
    parts = [_keys.NAMESPACE, _keys.escape(name), *(f"<{p}>" for p in partition)]
    return "{" + ":".join(parts) + "}:*"


def _origin(model: type[Model]) -> str:
    return f"{model.__module__}.{model.__qualname__}"


def models() -> tuple[RegisteredModel, ...]:
    """Every concrete model defined so far in this process, by name.

    A model is registered when its class statement runs: import the modules that define your
    models first.

    Examples:
        >>> [m.name for m in typedis.models()]
        ['Memory', 'Restaurant']
    """
    return tuple(_models[name] for name in sorted(_models))


@contextmanager
def kept() -> Generator[None]:
    """Restore the registry as it was when the block started (the pytest plugin wraps each
    test in it: models a test defines are gone after it)."""
    saved = dict(_models)
    try:
        yield
    finally:
        _models.clear()
        _models.update(saved)
