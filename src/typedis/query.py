"""Query types for annotations: the query, its conditions and orderings, field references.

Examples:
    >>> from typedis.query import Cond, Query
    >>> def thai(query: Query[Restaurant]) -> Query[Restaurant]:
    ...     return query.filter(Restaurant.cuisine == "Thai")
"""

from ._query._conditions import Cond
from ._query._query import Profile, Query
from ._query._refs import (
    ConfidenceRef,
    DecayRef,
    FieldRef,
    GeoRef,
    IndexedRef,
    KeyRef,
    LinkRef,
    OptionalLinkRef,
    Ordering,
    Rank,
    SortedRef,
    UniqueRef,
)

__all__ = [
    "Cond",
    "ConfidenceRef",
    "DecayRef",
    "FieldRef",
    "GeoRef",
    "IndexedRef",
    "KeyRef",
    "LinkRef",
    "OptionalLinkRef",
    "Ordering",
    "Profile",
    "Query",
    "Rank",
    "SortedRef",
    "UniqueRef",
]
