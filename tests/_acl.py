"""typedis connected as an ACL user of a server the suite started (conftest's ``own_server``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import redis

import typedis
from typedis import _connection


def user_url(url: str, user: str, password: str) -> str:
    """``url`` logging in as ``user``."""
    parts = urlsplit(url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@contextmanager
def connected_as(url: str, user: str, password: str) -> Iterator[typedis.Connection]:
    """typedis' default connection as ``user`` for the block; then the previous one again."""
    previous = _connection.get_connection()
    conn = typedis.connect(user_url(url, user, password))
    try:
        yield conn
    finally:
        conn.close()
        _connection._default = previous  # pyright: ignore[reportPrivateUsage]


@contextmanager
def as_user(url: str, admin: redis.Redis, user: str, *rules: str) -> Iterator[None]:
    """typedis connected as a fresh ACL user with ``+@all`` and these rules (made by ``admin``)."""
    password = f"{user}-s3cret"
    admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", "+@all", *rules)
    with connected_as(url, user, password):
        yield
