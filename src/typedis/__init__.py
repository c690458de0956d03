"""typedis: typed pydantic models on Redis and Valkey, with indexes that never go stale."""

from importlib.metadata import PackageNotFoundError, version

# Absolute, unlike their neighbours: the relative form makes pyright treat `_maintenance` and
# `_scripts` as private names of this package, which `from . import _scripts` elsewhere trips on.
from typedis._index import ChangeStream
from typedis._maintenance import IndexReport, Progress, install_functions, prune_functions
from typedis._registry import RegisteredModel, models
from typedis._scripts import check_connection
from typedis._sweeper import AsyncSweeper, Sweeper, astart_sweeper, start_sweeper

from . import memory as memory  # the agent-memory primitives register their kinds and operations
from . import retrieval as retrieval  # text search registers its kind and operation
from ._changes import Change, ChangeLog, PendingChange
from ._channel import AsyncSubscription, Channel, Subscription
from ._connection import Connection, connect, get_connection
from ._errors import (
    ConfigError,
    CorruptRecord,
    EvictionWarning,
    KeyMutationError,
    ModelError,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    QueryError,
    ServerFull,
    ServerRefused,
    ServerUnavailable,
    TypedisError,
    UniqueViolation,
)
from ._links import Linked
from ._markers import (
    AutoKey,
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Indexed,
    Key,
    Link,
    OptionalLink,
    Sorted,
    Unique,
    field,
    new_id,
)
from ._model import Model
from ._query._conditions import Cond
from ._query._query import Query
from ._schema import Index
from .retrieval import Content, Embedding, Text

try:
    __version__ = version("typedis")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AsyncSubscription",
    "AsyncSweeper",
    "AutoKey",
    "Change",
    "ChangeLog",
    "ChangeStream",
    "Channel",
    "Cond",
    "Confidence",
    "ConfigError",
    "Connection",
    "Content",
    "CorruptRecord",
    "Decaying",
    "Embedding",
    "EvictionWarning",
    "Geo",
    "GeoPoint",
    "Index",
    "IndexReport",
    "Indexed",
    "Key",
    "KeyMutationError",
    "Link",
    "Linked",
    "Model",
    "ModelError",
    "NotFound",
    "OptionalLink",
    "OutcomeUnknown",
    "PendingChange",
    "PermissionDenied",
    "Progress",
    "Query",
    "QueryError",
    "RegisteredModel",
    "ServerFull",
    "ServerRefused",
    "ServerUnavailable",
    "Sorted",
    "Subscription",
    "Sweeper",
    "Text",
    "TypedisError",
    "Unique",
    "UniqueViolation",
    "astart_sweeper",
    "check_connection",
    "connect",
    "field",
    "get_connection",
    "install_functions",
    "models",
    "new_id",
    "prune_functions",
    "start_sweeper",
]
