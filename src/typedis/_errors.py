"""Exceptions raised by typedis.

    TypedisError
     ├── ConfigError          (also ValueError)  bad connection settings
     ├── ModelError           (also TypeError)   a model class or a call on it is ill-formed
     ├── KeyMutationError                        save() would silently move a record
     ├── UniqueViolation                         another record holds a unique value
     ├── QueryError           (also ValueError)  a query cannot be planned or has no single answer
     ├── NotFound             (also LookupError) no record under the given key
     ├── CorruptRecord                           stored bytes the codec did not write
     ├── ServerRefused                           the server answered with an error
     │    ├── ServerFull                         out of memory: a write was refused
     │    └── PermissionDenied (also PermissionError) the server's ACL refused a key or command
     ├── ServerUnavailable    (also ConnectionError) nothing was sent (or a read got no reply)
     └── OutcomeUnknown                          a write may or may not have been applied

Every error a public call raises is one of these (the redis-py error, if any, is the
``__cause__``) or pydantic's ``ValidationError``, which passes through unchanged.

    EvictionWarning      (a UserWarning)         the server may evict keys (maxmemory-policy)
"""

from __future__ import annotations


class TypedisError(Exception):
    """Base class of every error typedis raises.

    ``position``: for an error about one record of a ``save_many()`` or bulk call
    (``bulk_create()``...), its position in the records given, or among a query's matches
    (else None).
    """

    position: int | None = None


class ConfigError(TypedisError, ValueError):
    """A connection URL or option is unusable or unsafe."""


class ModelError(TypedisError, TypeError):
    """A model class is ill-formed, or a method was called on it in a way it cannot serve."""


class KeyMutationError(TypedisError):
    """``save()`` was called after a key field changed, without ``migrate_key=True``."""


class UniqueViolation(TypedisError):
    """A unique value is already held by another record; nothing was written."""

    def __init__(self, model: str, field: str, value: object) -> None:
        self.model = model
        self.field = field
        self.value = value
        super().__init__(
            f"{model}.{field}: value {value!r} is already used by another record; "
            "nothing was written"
        )


class QueryError(TypedisError, ValueError):
    """A query names an unknown field or lookup, or ``get()`` matched several records."""


class NotFound(TypedisError, LookupError):
    """No live record matches."""


class CorruptRecord(TypedisError):
    """A stored value typedis did not write, or cannot read back into its model.

    ``model``, ``key`` (the record's Redis key) and ``field`` say where, when known;
    ``delete()`` still removes the record.
    """

    def __init__(
        self,
        problem: str,
        *,
        model: str | None = None,
        key: str | None = None,
        field: str | None = None,
    ) -> None:
        self.model = model
        self.key = key
        self.field = field
        if model is not None:
            where = f"field {field!r} of the record" if field else "the record"
            problem = f"{model}: {where} at {key!r} {problem}; delete() still removes it"
        super().__init__(problem)


class ServerRefused(TypedisError):
    """The server answered a call with an error; nothing was written.

    typedis' scripts check everything that can fail before their first write, so a refused
    call leaves no trace. The server's reply (a redis-py error) is the ``__cause__``.
    """


class ServerFull(ServerRefused):
    """The server is out of memory (``maxmemory`` reached, ``noeviction``): a write was refused.

    Nothing was written. Reads, queries, ``delete()`` and ``sweep_expired()`` keep working,
    so memory can be freed through typedis.
    """


class PermissionDenied(ServerRefused, PermissionError):
    """The server's ACL refused a key or command; nothing was written.

    Writes check every key they touch before their first change, so a denial never leaves a
    half-applied write. The original redis-py error is the ``__cause__``.
    """


class ServerUnavailable(TypedisError, ConnectionError):
    """The server could not be used for a call; nothing was sent, nothing was applied.

    The connection was refused, the host is unknown, the credentials were refused, the server
    is still loading its data, or no connection of the pool became free in time; or a read got
    no reply (a read changes nothing). The redis-py error is the ``__cause__``.
    """


class OutcomeUnknown(TypedisError):
    """A write was sent but its reply was lost (timeout, dropped connection, or cancelled).

    It was applied once or not at all; typedis never re-sends it. Re-read the record to find out.
    """


class EvictionWarning(UserWarning):
    """The server's ``maxmemory-policy`` lets it evict keys, which breaks typedis' indexes.

    An evicted record leaves its index entries behind, an evicted index loses records from
    queries. Warned once per connection; see docs/connection.md.
    """


# Tracebacks and reprs name them where users import them from: typedis.ModelError.
for _error in (
    TypedisError,
    ConfigError,
    ModelError,
    KeyMutationError,
    UniqueViolation,
    QueryError,
    NotFound,
    CorruptRecord,
    ServerRefused,
    ServerFull,
    PermissionDenied,
    ServerUnavailable,
    OutcomeUnknown,
    EvictionWarning,
):
    _error.__module__ = "typedis"
