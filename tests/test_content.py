"""Content off Redis (``typedis.retrieval.Content``): values in a content store, the record holding
their digest; written before the record; lazy loads; and garbage collection that removes only
blobs no record names, after their grace period.

A crash between the two steps (the process killed after the blob write, or the save refused
then) leaves the old record intact and at most an orphan blob, which ``collect_garbage()``
removes after the grace and not before.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from typedis import ConfigError, Key, Model, NotFound, Unique, UniqueViolation, _connection
from typedis.retrieval import (
    Blob,
    Content,
    ContentStore,
    FileContentStore,
    collect_garbage,
    configure,
)
from typedis.retrieval._content import digest_of


class StoredPage(Model, partition="site"):
    site: Key[str]
    id: Key[str]
    slug: Unique[str]
    body: Content[str]
    image: Content[bytes] = b""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileContentStore]:
    s = FileContentStore(tmp_path / "blobs")
    configure(content_store=s)
    yield s
    configure(content_store=None)


def digests(store: ContentStore) -> set[str]:
    return {d for d, _ in store.list()}


def age(store: FileContentStore, digest: str, seconds: float) -> None:
    """Make a blob look ``seconds`` old."""
    path = store.root / digest[:2] / digest
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


def test_the_record_holds_the_digest_and_loads_lazily(
    store: FileContentStore, redis_client: redis.Redis
) -> None:
    text = "a long page " * 1000
    p = StoredPage(site="s", id="1", slug="one", body=text, image=b"\x89PNG").save()
    assert redis_client.hget(p.redis_key, "body") == digest_of(text.encode()).encode()
    assert digests(store) == {digest_of(text.encode()), digest_of(b"\x89PNG")}
    loaded = StoredPage.load("s", "1")
    assert isinstance(loaded.body, Blob) and not loaded.body.loaded  # the digest only
    assert loaded.body.value == text and loaded.body.loaded
    assert loaded.image.value == b"\x89PNG"
    assert loaded == p and loaded.model_dump()["body"] == text


def test_one_value_is_stored_once(store: FileContentStore) -> None:
    StoredPage.save_many(
        [StoredPage(site="s", id=str(i), slug=str(i), body="same") for i in range(5)]
    )
    assert digests(store) == {digest_of(b"same"), digest_of(b"")}


def test_async_saves_write_first_and_aload_reads(store: FileContentStore) -> None:
    async def body() -> str:
        try:
            await StoredPage(site="s", id="1", slug="a", body="async text").asave()
            await StoredPage.abulk_create([StoredPage(site="s", id="2", slug="b", body="bulk")])
            loaded = await StoredPage.aload("s", "1")
            return await loaded.body.aload()
        finally:
            await _connection.get_connection().aclose()

    assert asyncio.run(body()) == "async text"
    assert digest_of(b"bulk") in digests(store)


def test_bulk_update_writes_the_new_value_first(store: FileContentStore) -> None:
    StoredPage.save_many(
        [StoredPage(site="s", id=str(i), slug=str(i), body="old") for i in range(3)]
    )
    assert StoredPage.bulk_update(StoredPage.query.filter(site="s"), body="new") == 3
    assert {p.body.value for p in StoredPage.query.filter(site="s").all()} == {"new"}


def test_a_refused_save_leaves_the_old_record_and_an_orphan_gc_removes_after_grace(
    store: FileContentStore,
) -> None:
    StoredPage(site="s", id="1", slug="taken", body="first").save()
    p = StoredPage(site="s", id="2", slug="mine", body="kept").save()
    p.body, p.slug = Blob("never referenced"), "taken"
    with pytest.raises(UniqueViolation):
        p.save()  # the blob was written, then the save refused
    orphan = digest_of(b"never referenced")
    assert orphan in digests(store)
    assert StoredPage.load("s", "2").body.value == "kept"  # the old record is intact
    assert collect_garbage(StoredPage, grace=3600) == 0  # younger than the grace: kept
    age(store, orphan, 7200)
    assert collect_garbage(StoredPage, grace=3600) == 1
    assert orphan not in digests(store)
    assert {p.body.value for p in StoredPage.query.filter(site="s").all()} == {"first", "kept"}


def test_a_process_killed_between_the_two_steps(store: FileContentStore) -> None:
    StoredPage(site="s", id="1", slug="one", body="before").save()
    url = _connection.get_connection().url
    script = textwrap.dedent(
        f"""
        import os
        import typedis
        from typedis import _scripts, Key, Model, Unique
        from typedis.retrieval import Content, FileContentStore, configure

        class StoredPage(Model, partition="site"):
            site: Key[str]
            id: Key[str]
            slug: Unique[str]
            body: Content[str]
            image: Content[bytes] = b""

        typedis.connect({url!r})
        configure(content_store=FileContentStore({str(store.root)!r}))
        _scripts.run = lambda call: os._exit(9)  # killed before the record's call is sent
        StoredPage(site="s", id="1", slug="one", body="after").save()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == 9
    assert StoredPage.load("s", "1").body.value == "before"
    orphan = digest_of(b"after")
    assert orphan in digests(store)
    assert collect_garbage(StoredPage, grace=60) == 0
    age(store, orphan, 120)
    assert collect_garbage(StoredPage, grace=60) == 1
    assert StoredPage.load("s", "1").body.value == "before"


def test_deleted_records_blobs_go_after_the_grace(store: FileContentStore) -> None:
    pages = [StoredPage(site=s, id="1", slug="x", body=f"page of {s}") for s in "ab"]
    StoredPage.save_many(pages[:1])
    StoredPage.save_many(pages[1:])
    pages[0].delete()
    for d in digests(store):
        age(store, d, 100)
    assert collect_garbage(StoredPage, grace=10) == 1  # a's page; b's and the shared b"" stay
    assert digests(store) == {digest_of(b"page of b"), digest_of(b"")}
    with pytest.raises(NotFound):
        _ = Blob.stored(digest_of(b"page of a"), True).value


@given(
    st.lists(
        st.tuples(st.sampled_from(["save", "delete"]), st.integers(0, 4), st.integers(0, 3)),
        max_size=20,
    )
)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_referenced_blob_is_never_removed(
    store: FileContentStore, ops: list[tuple[str, int, int]]
) -> None:
    for op, n, v in ops:
        page = StoredPage(site="p", id=str(n), slug=str(n), body=f"value {v}")
        page.save() if op == "save" else page.delete()
    for d in digests(store):
        age(store, d, 10)
    collect_garbage(StoredPage, grace=0)
    live = StoredPage.query.filter(site="p").all()
    for page in live:  # every live record's content still loads
        assert page.body.value.startswith("value ")
    assert digests(store) <= {p.body.digest for p in live} | {digest_of(b"")}
    for page in live:
        page.delete()


def test_bad_values_are_refused(store: FileContentStore) -> None:
    with pytest.raises(ValueError, match="takes str"):
        StoredPage(site="s", id="1", slug="a", body=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes str or bytes"):
        StoredPage(site="s", id="1", slug="a", body=3)  # type: ignore[arg-type]


def test_schemas_and_store_failures(tmp_path: Path) -> None:
    schema = StoredPage.model_json_schema()
    assert schema["properties"]["body"]["anyOf"][0] == {"type": "string"}
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    configure(content_store=FileContentStore(blocked))
    try:
        with pytest.raises(ConfigError, match="cannot write") as caught:
            StoredPage(site="s", id="1", slug="a", body="x").save()
        assert isinstance(caught.value.__cause__, OSError)
        with pytest.raises(NotFound):
            StoredPage.load("s", "1")  # nothing was written
    finally:
        configure(content_store=None)
