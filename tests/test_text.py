"""Text search (``typedis.retrieval``): BM25 postings kept in the record's write, scored on the
server.

Checked against the real server and a Python reference computed from the records: after any
sequence of saves, partial saves, moves, deletes, expiries and sweeps the postings, lengths and
statistics equal a recount (a stateful machine) and the scores equal BM25 computed from the
records; no result ever comes from another tenant; pruned scoring gives the exhaustive top k;
filters restrict the candidates; edge texts; the typed errors; the fast and the generic save
leave the same keys; check / clean / rebuild of the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

import typedis
from _acl import as_user
from _util import arun, dumped
from test_codegen import generic_saves, state
from typedis import (
    CorruptRecord,
    Indexed,
    Key,
    Model,
    ModelError,
    NotFound,
    PermissionDenied,
    QueryError,
    Sorted,
    Text,
    _codegen,
)
from typedis._analyzer import STANDARD, terms
from typedis._index.text_kind import K1, B, bm25_idf, weight
from typedis._keys import escape
from typedis._query._query import _drive  # pyright: ignore[reportPrivateUsage]
from typedis.retrieval import BM25, Hit, aidf, idf
from typedis.retrieval._text import text_candidates

PAST = datetime(2000, 1, 1, tzinfo=UTC)


class TxNote(Model, partition="user", ttl=3600):
    user: Key[str]
    id: Key[str]
    body: Annotated[str | None, BM25()] = None
    kind: Indexed[str] = "memo"
    rank: Sorted[int] = 0


class TxDoc(Model):
    id: Key[str]
    body: Text[str]


class TxTuned(Model):
    id: Key[str]
    body: Annotated[str, BM25(analyzer=str.split, k1=2.0, b=0.3)]


class TxPlain(Model):
    id: Key[str]
    name: Indexed[str]


# ---- the reference -------------------------------------------------------------------------------


def reference_scores(
    corpus: Mapping[str, str | None],
    query: str,
    *,
    live: Iterable[str] | None = None,
    analyzer: Any = STANDARD,
    k1: float = K1,
    b: float = B,
) -> dict[str, float]:
    """BM25 of every live document holding a query term, from the texts of one partition
    (statistics over every stored document, live or expired)."""
    docs = {rid: Counter(terms(analyzer, t)) for rid, t in corpus.items() if t is not None}
    lengths = {rid: sum(c.values()) for rid, c in docs.items()}
    n = len(docs)
    if not n:
        return {}
    avgdl = max(sum(lengths.values()) / n, 1e-9)
    words = list(dict.fromkeys(terms(analyzer, query)))
    df = {w: sum(1 for c in docs.values() if w in c) for w in words}
    out: dict[str, float] = {}
    for rid in docs if live is None else live:
        if rid not in docs:
            continue
        held = [w for w in words if docs[rid][w]]
        if held:
            out[rid] = sum(
                bm25_idf(n, df[w]) * weight(docs[rid][w], lengths[rid], avgdl, k1, b) for w in held
            )
    return out


def assert_top(got: list[tuple[Any, float]], want: Mapping[Any, float], k: int) -> None:
    """``got`` is a correct top k of ``want``: each id with its true score, best first, as many
    as there are up to k, and none worse than the k-th best true score (ties may cut either
    way)."""
    assert len(got) == min(k, len(want))
    for rid, score in got:
        assert math.isclose(score, want[rid], rel_tol=1e-9, abs_tol=1e-12)
    scores = [s for _, s in got]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(scores))
    if got:
        kth = sorted(want.values(), reverse=True)[len(got) - 1]
        assert all(s >= kth - 1e-9 for s in scores)
    assert len({rid for rid, _ in got}) == len(got)


def pairs(hits: list[Hit[Any]]) -> list[tuple[str, float]]:
    return [(h.record.id, h.score) for h in hits]


# ---- basics --------------------------------------------------------------------------------------


def test_search_returns_hits_scored_by_bm25() -> None:
    texts = {
        "a": "The barista pulled a double espresso shot",
        "b": "Espresso espresso espresso, all day long",
        "c": "Green tea and a croissant",
        "d": "Decaf coffee, no espresso",
    }
    for rid, text in texts.items():
        TxDoc(id=rid, body=text).save()
    hits = TxDoc.query.search("espresso shots", k=3)
    assert [type(h) for h in hits] == [Hit, Hit, Hit]
    assert all(h.text_score == h.score and h.vector_score is None for h in hits)
    assert all(h.signals == {} for h in hits)
    assert hits[0].record == TxDoc(id="a", body=texts["a"])  # both terms
    assert_top(pairs(hits), reference_scores(texts, "espresso shots"), 3)


def test_idf_matches_the_formula_and_the_seeds_edge_values() -> None:
    assert idf(TxDoc.body, ["coffee"]) == {"coffee": 0.0}  # an empty corpus
    for rid, text in {"a": "coffee beans", "b": "coffee", "c": "tea"}.items():
        TxDoc(id=rid, body=text).save()
    got = idf(TxDoc.body, ["Coffee", "the", "matcha"])
    assert got["Coffee"] == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    assert got["the"] == 0.0  # a stop word has no term
    assert got["matcha"] == pytest.approx(math.log(1 + 3.5 / 0.5))  # in no document
    assert idf(TxDoc.body, "tea") == {"tea": pytest.approx(math.log(1 + 2.5 / 1.5))}
    assert asyncio.run(aidf(TxDoc.body, ["tea"])) == idf(TxDoc.body, ["tea"])


def test_asearch_equals_search() -> None:
    for i in range(12):
        TxDoc(id=f"d{i}", body=f"note {i} about {'cats' if i % 3 else 'dogs and cats'}").save()
    sync = TxDoc.query.search("dogs cats", k=5)
    assert asyncio.run(TxDoc.query.asearch("dogs cats", k=5)) == sync


def test_the_marker_options_reach_the_scores() -> None:
    texts = {"a": "Alpha beta beta", "b": "alpha alpha", "c": "gamma"}
    for rid, text in texts.items():
        TxTuned(id=rid, body=text).save()
    want = reference_scores(texts, "alpha beta", analyzer=str.split, k1=2.0, b=0.3)
    assert_top(pairs(TxTuned.query.search("alpha beta", k=5)), want, 5)
    assert TxTuned.query.search("Alpha", k=5)[0].record.id == "a"  # str.split keeps the case


# ---- partitions ----------------------------------------------------------------------------------

words = st.sampled_from(
    ["coffee", "tea", "milk", "order", "espresso", "sugar", "cup", "latte", "the", "an"]
)
bodies = st.lists(words, max_size=12).map(" ".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ann=st.dictionaries(st.sampled_from("abcdef"), bodies, max_size=6),
    bob=st.dictionaries(st.sampled_from("abcdef"), bodies, max_size=6),
    query=st.lists(words, min_size=1, max_size=3).map(" ".join),
    k=st.integers(1, 8),
)
def test_no_result_or_statistic_crosses_tenants(
    redis_client: redis.Redis, ann: dict[str, str], bob: dict[str, str], query: str, k: int
) -> None:
    redis_client.flushdb()
    for user, corpus in (("ann", ann), ("bob", bob)):
        for rid, body in corpus.items():
            TxNote(user=user, id=rid, body=body).save()
    for user, corpus in (("ann", ann), ("bob", bob)):
        hits = TxNote.query.filter(user=user).search(query, k=k)
        assert all(h.record.user == user for h in hits)
        assert_top(pairs(hits), reference_scores(dict(corpus), query), k)
        want = {
            w: bm25_idf(len(corpus), sum(1 for b in corpus.values() if w in b.split()))
            for w in query.split()
            if w not in ("the", "an")
        }
        got = idf(TxNote.body, list(want), partition=user)
        assert got == pytest.approx(want) if corpus else all(v == 0 for v in got.values())
    both = TxNote.query.filter(TxNote.user.in_(["ann", "bob"])).search(query, k=k)
    merged = {("ann", r): s for r, s in reference_scores(dict(ann), query).items()}
    merged |= {("bob", r): s for r, s in reference_scores(dict(bob), query).items()}
    got = [((h.record.user, h.record.id), h.score) for h in both]
    assert_top(got, merged, k)  # each tenant scored by its own statistics, merged by score


# ---- pruning -------------------------------------------------------------------------------------

vocabulary = [f"w{i}" for i in range(40)]
zipf = st.integers(0, 39).map(lambda i: vocabulary[int(i * i / 40)])  # skewed: w0 is common
corpora = st.lists(st.lists(zipf, max_size=30).map(" ".join), min_size=1, max_size=60)
queries = st.lists(zipf, min_size=1, max_size=4).map(" ".join)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    corpus=corpora,
    query=queries,
    k=st.integers(1, 12),
    kinds=st.lists(st.sampled_from(["memo", "task"]), min_size=60, max_size=60),
)
def test_pruned_scoring_gives_the_exhaustive_top_k(
    redis_client: redis.Redis, corpus: list[str], query: str, k: int, kinds: list[str]
) -> None:
    redis_client.flushdb()
    TxNote.save_many(
        [TxNote(user="u", id=f"{i:03}", body=b, kind=kinds[i]) for i, b in enumerate(corpus)]
    )
    assert TxNote.check_indexes()["total"] == 0  # impacts recomputed at 16 and 32 documents
    texts: dict[str, str | None] = {f"{i:03}": b for i, b in enumerate(corpus)}
    tasks = [rid for rid in texts if kinds[int(rid)] == "task"]
    for q, live in (
        (TxNote.query.filter(user="u"), list(texts)),
        (TxNote.query.filter(user="u", kind="task"), tasks),
    ):
        pruned = _drive(text_candidates(q, query, k))
        exhaustive = _drive(text_candidates(q, query, k, prune=False))
        want = reference_scores(texts, query, live=live)
        assert_top([(rid[2:], s) for (_, rid), s in pruned], want, k)  # ids: u:<id>
        assert_top([(rid[2:], s) for (_, rid), s in exhaustive], want, k)


# ---- filters -------------------------------------------------------------------------------------


def test_filters_restrict_the_candidates(redis_client: redis.Redis) -> None:
    texts = {f"n{i}": f"coffee {'order' * (i % 3)} note {i}" for i in range(30)}
    for i, (rid, text) in enumerate(texts.items()):
        TxNote(user="ann", id=rid, body=text, kind="task" if i % 2 else "memo", rank=i).save()
    base = TxNote.query.filter(user="ann")
    cases = {
        "kind": (base.filter(kind="task"), lambda i: i % 2 == 1),
        "range": (base.filter(rank__gte=10, rank__lt=20), lambda i: 10 <= i < 20),
        "both": (base.filter(kind="memo", rank__lt=5), lambda i: i % 2 == 0 and i < 5),
        "not": (base.exclude(kind="task"), lambda i: i % 2 == 0),
        "by key": (base.filter(TxNote.id.in_(["n3", "n4"])), lambda i: i in (3, 4)),
        "prefix": (base.filter(TxNote.kind.startswith("ta")), lambda i: i % 2 == 1),
        "or": (base.filter((TxNote.kind == "task") | (TxNote.rank < 4)), lambda i: i % 2 or i < 4),
    }
    for name, (query, admits) in cases.items():
        live = [f"n{i}" for i in range(30) if admits(i)]
        want = reference_scores(dict(texts), "coffee order", live=live)
        got = pairs(query.search("coffee order", k=7))
        assert_top(got, want, 7)
        assert all(h.record.id in live for h in query.search("coffee order", k=30)), name
    assert list(redis_client.scan_iter(match="*:q:*")) == []  # scratch keys are gone


def test_expired_records_are_never_found_but_count_until_swept() -> None:
    TxNote(user="ann", id="old", body="coffee beans").save(expire_at=PAST)
    TxNote(user="ann", id="new", body="coffee grinder").save()
    q = TxNote.query.filter(user="ann")
    hits = q.search("coffee", k=5)
    assert [h.record.id for h in hits] == ["new"]
    corpus: dict[str, str | None] = {"old": "coffee beans", "new": "coffee grinder"}
    assert hits[0].score == pytest.approx(reference_scores(corpus, "coffee", live=["new"])["new"])
    assert q.filter(kind="memo").search("coffee", k=5)[0].record.id == "new"
    assert TxNote.sweep_expired() == 1
    assert hits[0].score != pytest.approx(q.search("coffee", k=5)[0].score)  # N went 2 -> 1


# ---- edge values ---------------------------------------------------------------------------------


def test_edge_texts(redis_client: redis.Redis) -> None:
    texts: dict[str, str | None] = {
        "empty": "",
        "stop": "the and of to it",
        "nul": "caf\x00e au lait",
        "unicode": "Straße café naïve 東京 коферум",
        "long": " ".join(f"w{i % 3000}" for i in range(12_000)),  # 3,000 distinct terms
        "none": None,
        "colon": "key:value {tag} *star*",
    }
    for rid, text in texts.items():
        TxNote(user="u:1", id=rid, body=text).save()
    q = TxNote.query.filter(user="u:1")
    for query in ("lait", "strasse", "東京", "коферум", "w2999", "value", "tag star", "caf"):
        assert_top(pairs(q.search(query, k=3)), reference_scores(texts, query), 3)
    assert q.search("the of", k=3) == []  # only stop words: nothing to look up
    assert q.search("", k=3) == []
    assert q.search("zzz", k=3) == []
    assert TxNote.check_indexes()["total"] == 0
    for rid in texts:
        TxNote.model_construct(user="u:1", id=rid).delete()
    assert [k for k in redis_client.scan_iter() if b":x:" in k] == []


def test_typed_errors() -> None:
    TxDoc(id="a", body="coffee").save()
    with pytest.raises(QueryError, match="no Text fields"):
        TxPlain.query.search("coffee")
    for k in (0, -1, True, 2.5, "3"):
        with pytest.raises(QueryError, match="k takes an int >= 1"):
            TxDoc.query.search("coffee", k=k)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="takes a str"):
        TxDoc.query.search(b"coffee")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="give a text"):
        TxDoc.query.search()
    with pytest.raises(QueryError, match="Embedding"):
        TxDoc.query.search(vector=[0.1, 0.2])
    with pytest.raises(QueryError, match="drop order_by"):
        TxNote.query.filter(user="a").order_by(TxNote.rank).search("coffee")
    with pytest.raises(QueryError, match="drop order_by"):
        TxDoc.query.limit(3).search("coffee")
    with pytest.raises(QueryError, match="partition"):
        TxNote.query.search("coffee")
    with pytest.raises(ModelError, match="Text field"):
        idf(TxDoc.id, ["coffee"])  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="partitioned"):
        idf(TxNote.body, ["coffee"])
    with pytest.raises(QueryError, match="not partitioned"):
        idf(TxDoc.body, ["coffee"], partition="x")
    with pytest.raises(QueryError, match="list of str"):
        idf(TxDoc.body, [1])  # type: ignore[list-item]


def test_bad_declarations_are_refused_at_class_creation() -> None:
    with pytest.raises(ModelError, match="need a str"):

        class TxBadType(Model):
            id: Key[str]
            body: Text[int]

    for marker, message in (
        (BM25(k1=-1.0), "k1"),
        (BM25(k1=math.inf), "k1"),
        (BM25(b=1.5), r"b=\.\.\.\) must be in \[0, 1\]"),
        (BM25(analyzer="words"), "analyzer"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ModelError, match=message):

            class TxBadOption(Model):
                id: Key[str]
                body: Annotated[str, marker]

    with pytest.raises(ModelError, match="shards"):

        class TxSharded(Model, shards=4):
            id: Key[str]
            body: Text[str]


# ---- the write path ------------------------------------------------------------------------------


def test_the_fast_and_the_generic_save_leave_the_same_keys(redis_client: redis.Redis) -> None:
    assert _codegen.fast_path(TxDoc.__typedis_spec__)

    def run() -> dict[bytes, Any]:
        redis_client.flushdb()
        TxDoc(id="1", body="coffee and milk").save()
        TxDoc.save_many([TxDoc(id=str(i), body=f"tea {i} coffee") for i in (2, 3)])
        TxDoc(id="4", body="").save()
        TxDoc(id="2", body="only tea").save()
        return state(redis_client)

    with generic_saves():
        generic = run()
    assert run() == generic


def test_check_clean_and_rebuild(redis_client: redis.Redis) -> None:
    for i in range(5):
        TxNote(user="a", id=str(i), body=f"coffee order {i}").save()
    assert TxNote.check_indexes()["total"] == 0
    redis_client.zadd("{td:TxNote:a}:x:body:t:coffe", {"a:1": 0.123})  # a wrong impact
    assert TxNote.check_indexes()["text"] == 2  # the wrong entry held, the right one missing
    assert TxNote.rebuild_indexes() == 5
    assert TxNote.check_indexes()["total"] == 0
    redis_client.delete("{td:TxNote:a}:r:a:4")  # deleted outside typedis
    assert TxNote.check_indexes()["text"] > 0
    assert TxNote.model_construct(user="a", id="4").delete() is False  # what its id locates
    assert TxNote.check_indexes()["text"] == 0  # its postings and its share of the statistics
    redis_client.delete("{td:TxNote:a}:r:a:3")
    assert TxNote.clean_indexes()["text"] > 0
    hits = TxNote.query.filter(user="a").search("coffee", k=10)
    assert sorted(h.record.id for h in hits) == ["0", "1", "2"]
    assert redis_client.zscore("{td:TxNote:a}:x:body:t:coffe", "a:3") is None
    assert TxNote.check_indexes()["text"] == 2  # the total length held still counts record 3


# ---- the stateful machine ------------------------------------------------------------------------

users = st.sampled_from(["ann", "b:b"])
ids = st.sampled_from(["1", "2", "3", "\x00"])
texts = st.none() | st.lists(words, max_size=8).map(" ".join)


class TextMachine(RuleBasedStateMachine):
    """Saves, partial saves, moves across partitions, deletes, expiry and sweeps of ``TxNote``,
    checked after every step against the texts saved: every key of the text index equals a
    recount, ``check_indexes()`` finds nothing, and a search scores as the reference."""

    client: redis.Redis

    def __init__(self) -> None:
        super().__init__()
        self.client.flushdb()
        self.recs: dict[tuple[str, str], tuple[str | None, bool]] = {}  # -> (text, expired)

    def _live(self) -> list[tuple[str, str]]:
        return sorted(k for k, (_, expired) in self.recs.items() if not expired)

    @initialize()
    def some_records(self) -> None:
        for user, rid, body in (("ann", "1", "coffee order"), ("b:b", "2", "tea milk tea")):
            TxNote(user=user, id=rid, body=body).save()
            self.recs[(user, rid)] = (body, False)

    @rule(user=users, rid=ids, body=texts, expire=st.booleans())
    def save(self, user: str, rid: str, body: str | None, expire: bool) -> None:
        TxNote(user=user, id=rid, body=body).save(expire_at=PAST if expire else None)
        self.recs[(user, rid)] = (body, expire)

    @rule(data=st.data(), body=texts, partial=st.booleans())
    def update(self, data: st.DataObject, body: str | None, partial: bool) -> None:
        live = self._live()
        if live:
            user, rid = data.draw(st.sampled_from(live))
            rec = TxNote.query.filter(user=user).get(id=rid)
            rec.body = body
            rec.save(update_fields=["body"] if partial else None)
            self.recs[(user, rid)] = (body, False)

    @rule(data=st.data(), kind=st.sampled_from(["memo", "task"]))
    def partial_other_field(self, data: st.DataObject, kind: str) -> None:
        live = self._live()
        if live:
            user, rid = data.draw(st.sampled_from(live))
            rec = TxNote.query.filter(user=user).get(id=rid)
            rec.kind = kind
            rec.save(update_fields=["kind"])

    @rule(data=st.data(), user=users, partial=st.booleans())
    def move(self, data: st.DataObject, user: str, partial: bool) -> None:
        live = self._live()
        if live:
            old = data.draw(st.sampled_from(live))
            if (user, old[1]) in self.recs:
                return
            rec = TxNote.query.filter(user=old[0]).get(id=old[1])
            rec.user = user
            if user != old[0] and typedis.get_connection().cluster:  # two slots: refused
                with pytest.raises(typedis.KeyMutationError):
                    rec.save(migrate_key=True, update_fields=["user"] if partial else None)
                return
            rec.save(migrate_key=True, update_fields=["user"] if partial else None)
            self.recs[(user, old[1])] = self.recs.pop(old)

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if self.recs:
            user, rid = data.draw(st.sampled_from(sorted(self.recs)))
            _, expired = self.recs.pop((user, rid))
            assert TxNote.model_construct(user=user, id=rid).delete() == (not expired)

    @rule()
    def sweep(self) -> None:
        expired = [k for k, (_, e) in self.recs.items() if e]
        assert TxNote.sweep_expired() == len(expired)
        for k in expired:
            del self.recs[k]

    @invariant()
    def the_index_is_a_recount(self) -> None:
        assert recount(self.client) == expected_keys(self.recs)
        assert TxNote.check_indexes()["total"] == 0

    @invariant()
    def scores_match_the_reference(self) -> None:
        for user in ("ann", "b:b"):
            corpus = {rid: t for (u, rid), (t, _) in self.recs.items() if u == user}
            live = [rid for (u, rid), (_, e) in self.recs.items() if u == user and not e]
            for query in ("coffee", "tea milk order"):
                hits = TxNote.query.filter(user=user).search(query, k=3)
                assert_top(pairs(hits), reference_scores(corpus, query, live=live), 3)
        with pytest.raises(NotFound):
            TxNote.query.filter(user="nobody").get(id="1")


def _tag(user: str) -> str:
    return "{td:TxNote:" + escape(user) + "}"


def expected_keys(recs: Mapping[tuple[str, str], tuple[str | None, bool]]) -> dict[str, Any]:
    """The text index's keys a recount of the records gives (impacts by their frequency)."""
    out: dict[str, Any] = {}
    for (user, rid), (body, _) in recs.items():
        if body is None:
            continue
        base = f"{_tag(user)}:x:body"
        found = terms(STANDARD, body)
        rid_text = f"{escape(user)}:{escape(rid)}"  # a record's id: its key values
        out.setdefault(base, {})[rid_text] = float(len(found))
        stats = out.setdefault(f"{base}:s", {"len": 0.0})
        stats["len"] += len(found)
        for term, tf in Counter(found).items():
            out.setdefault(f"{base}:d", {})[f"{rid_text}\x00{term}"] = 0.0
            out.setdefault(f"{base}:t:{term}", {})[rid_text] = tf
    return out


def recount(client: redis.Redis) -> dict[str, Any]:
    """The text index's keys as stored, with each impact turned back into its frequency."""
    out: dict[str, Any] = {}
    for key in client.scan_iter(match="*:x:body*"):
        name = key.decode()
        out[name] = {m.decode(): s for m, s in client.zrange(key, 0, -1, withscores=True)}
    for name in list(out):
        if name.endswith(":s"):
            ref = out[name].pop("ref")
            assert ref >= 1
            base = name[:-2]
            for key in [k for k in out if k.startswith(base + ":t:")]:
                lengths = out[base]
                out[key] = {rid: _tf(s, lengths[rid], ref) for rid, s in out[key].items()}
    return out


def _tf(impact: float, dl: float, ref: float) -> int:
    assert impact == pytest.approx(weight(round(_solve(impact, dl, ref)), dl, ref, K1, B))
    return round(_solve(impact, dl, ref))


def _solve(impact: float, dl: float, ref: float) -> float:
    return impact * K1 * (1 - B + B * dl / ref) / (K1 + 1 - impact)


def test_stateful_text_index(redis_client: redis.Redis) -> None:
    TextMachine.client = redis_client
    run_state_machine_as_test(
        TextMachine, settings=settings(max_examples=25, stateful_step_count=20, deadline=None)
    )


def test_a_search_across_partitions_merges_each_partitions_best(redis_client: redis.Redis) -> None:
    corpora: dict[str, dict[str, str | None]] = {
        "ann": {"1": "coffee beans", "2": "coffee coffee grinder", "3": "tea"},
        "bob": {"1": "coffee", "2": "green tea"},
        "cy": {"1": "espresso"},
    }
    for user, corpus in corpora.items():
        for rid, body in corpus.items():
            TxNote(user=user, id=rid, body=body).save()
    want = {
        (user, rid): s
        for user, corpus in corpora.items()
        for rid, s in reference_scores(corpus, "coffee tea").items()
    }
    spread = TxNote.query.across_partitions()
    for hits in (
        spread.search("coffee tea", k=4),
        asyncio.run(spread.asearch("coffee tea", k=4)),
    ):
        assert_top([((h.record.user, h.record.id), h.score) for h in hits], want, 4)
    assert TxNote.delete_all() == 6
    assert [k for k in redis_client.scan_iter() if b":x:" in k] == []


def test_the_reference_length_follows_the_average_while_the_index_is_young(
    redis_client: redis.Redis,
) -> None:
    stats = "{td:TxDoc}:x:body:s"
    texts = {"00": "coffee"} | {f"{i:02}": f"coffee w{i} " + "word " * 8 for i in range(1, 16)}
    for rid, text in texts.items():
        TxDoc(id=rid, body=text).save()
        if rid == "00":
            assert redis_client.zscore(stats, "ref") == 1.0  # the first document's length
    assert redis_client.zscore(stats, "ref") == pytest.approx((1 + 15 * 10) / 16)
    assert TxDoc.check_indexes()["total"] == 0
    corpus: dict[str, str | None] = dict(texts)
    assert_top(
        pairs(TxDoc.query.search("coffee w3", k=5)), reference_scores(corpus, "coffee w3"), 5
    )
    TxDoc(id="00", body="coffee again").save()  # re-indexed at 16 documents: less than 5% off
    assert redis_client.zscore(stats, "ref") == pytest.approx((1 + 15 * 10) / 16)


def test_a_record_deleted_outside_typedis_is_not_a_hit(redis_client: redis.Redis) -> None:
    for rid in ("a", "b"):
        TxDoc(id=rid, body="coffee").save()
    redis_client.delete("{td:TxDoc}:r:a")  # its postings stay until clean_indexes()
    assert [h.record.id for h in TxDoc.query.search("coffee", k=5)] == ["b"]


def _delete_outside_typedis(client: redis.Redis, user: str, rids: Iterable[str]) -> None:
    """DEL the record hashes (as a stray DEL or an eviction would): their postings stay."""
    keys = [f"{{td:TxNote:{escape(user)}}}:r:{escape(user)}:{escape(rid)}" for rid in rids]
    if keys:
        client.delete(*keys)


def _best(scores: Mapping[str, float], n: int) -> list[str]:
    return [rid for rid, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:n]]


def test_records_deleted_outside_typedis_give_way_to_the_next_best(
    redis_client: redis.Redis,
) -> None:
    """The best records' hashes deleted outside typedis: every search path (pruned,
    exhaustive, a narrow filter, asearch, several partitions) still returns k stored records.
    The statistics (N, df, the total length) count the deleted records until clean_indexes(),
    and so does the reference: the whole corpus, scoring the stored records only."""
    corpora: dict[str, dict[str, str | None]] = {
        user: {
            f"{i:02}": "coffee " * (1 + i % 4) + f"note {i}" + (" order" if i % 3 == 0 else "")
            for i in range(24)
        }
        for user in ("ann", "bob")
    }
    for user, corpus in corpora.items():
        TxNote.save_many(
            [
                TxNote(user=user, id=rid, body=b, kind="task" if int(rid) % 5 == 0 else "memo")
                for rid, b in corpus.items()
            ]
        )
    query = "coffee order"
    gone = {"ann": _best(reference_scores(corpora["ann"], query), 6)}
    gone["bob"] = _best(reference_scores(corpora["bob"], query), 2)
    for user, rids in gone.items():
        _delete_outside_typedis(redis_client, user, rids)
    live = {u: [r for r in corpus if r not in gone[u]] for u, corpus in corpora.items()}
    want = {u: reference_scores(corpora[u], query, live=live[u]) for u in corpora}
    ann = TxNote.query.filter(user="ann")
    for hits in (ann.search(query, k=5), asyncio.run(ann.asearch(query, k=5))):
        assert_top(pairs(hits), want["ann"], 5)
    for prune in (True, False):
        found = _drive(text_candidates(ann, query, 5, prune=prune))
        assert_top([(rid[4:], s) for (_, rid), s in found], want["ann"], 5)  # ids: ann:<id>
    tasks = [rid for rid in live["ann"] if int(rid) % 5 == 0]  # a narrow filter: scored directly
    narrow = reference_scores(corpora["ann"], query, live=tasks)
    assert_top(pairs(ann.filter(kind="task").search(query, k=3)), narrow, 3)
    merged = {(u, rid): s for u, scores in want.items() for rid, s in scores.items()}
    spread = TxNote.query.across_partitions()
    for hits in (spread.search(query, k=8), asyncio.run(spread.asearch(query, k=8))):
        assert_top([((h.record.user, h.record.id), h.score) for h in hits], merged, 8)
    assert TxNote.check_indexes()["text"] > 0  # the postings stay until clean_indexes()
    assert TxNote.clean_indexes()["text"] > 0
    assert sorted(h.record.id for h in ann.search(query, k=30)) == sorted(live["ann"])


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    corpus=corpora,
    query=queries,
    k=st.integers(1, 12),
    deleted=st.integers(0, 15),
)
def test_pruned_scoring_walks_past_records_deleted_outside_typedis(
    redis_client: redis.Redis, corpus: list[str], query: str, k: int, deleted: int
) -> None:
    redis_client.flushdb()
    TxNote.save_many([TxNote(user="u", id=f"{i:03}", body=b) for i, b in enumerate(corpus)])
    texts: dict[str, str | None] = {f"{i:03}": b for i, b in enumerate(corpus)}
    gone = _best(reference_scores(texts, query), deleted)  # the best: they would take the slots
    _delete_outside_typedis(redis_client, "u", gone)
    want = reference_scores(texts, query, live=[rid for rid in texts if rid not in gone])
    q = TxNote.query.filter(user="u")
    for prune in (True, False):
        found = _drive(text_candidates(q, query, k, prune=prune))
        assert_top([(rid[2:], s) for (_, rid), s in found], want, k)  # ids: u:<id>


# ---- the term keys checked before any write ------------------------------------------------------


class TxKeys(Model, partition="user", ttl=3600):
    user: Key[str]
    id: Key[str]
    body: Annotated[str | None, BM25(analyzer=str.split)] = None
    kind: Indexed[str] = "memo"
    rank: Sorted[int] = 0


KEYS_TAG = "{td:TxKeys:u}"


def term(word: str) -> str:
    return f"{KEYS_TAG}:x:body:t:{word}"


def edited(**changes: Any) -> TxKeys:
    """Record u/1 as loaded, with changes."""
    record = TxKeys.load("u", "1")
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def _keyed_records() -> None:
    TxKeys(user="u", id="1", body="apple old", rank=1).save()
    TxKeys(user="u", id="2", body="apple pear").save(expire_at=PAST)  # expired, not swept


def _refused(writes: Iterable[Any], error: type[Exception], client: redis.Redis) -> None:
    before = dumped(client)
    for write in writes:
        with pytest.raises(error):
            write()
        assert dumped(client) == before


@pytest.mark.parametrize("generic", [False, True], ids=["fast", "generic"])
def test_a_term_key_of_another_type_refuses_the_write_and_nothing_is_written(
    redis_client: redis.Redis, generic: bool
) -> None:
    with generic_saves() if generic else contextlib.nullcontext():
        _keyed_records()
        redis_client.set(term("kiwi"), "x")  # a term the writes add
        adding = [
            lambda: TxKeys(user="u", id="3", body="fig kiwi", kind="new").save(),
            lambda: arun(TxKeys(user="u", id="3", body="kiwi").asave()),
            lambda: TxKeys.save_many([TxKeys(user="u", id=i, body=f"{i} kiwi") for i in "34"]),
            lambda: TxKeys.save_many([TxKeys(user="u", id="1", body="kiwi")]),
            lambda: TxKeys.bulk_create([TxKeys(user="u", id="4", body="kiwi")]),
            lambda: edited(body="kiwi", rank=9).save(),
            lambda: edited(body="kiwi").save(update_fields=["body"]),
            lambda: TxKeys.bulk_update([edited()], body="kiwi", rank=2),
            lambda: TxKeys(user="u", id="2", body="kiwi").save(),  # over the expired record
        ]
        _refused(adding, CorruptRecord, redis_client)
        redis_client.delete(term("kiwi"))
        redis_client.set(term(escape("k:{i}*")), "x")  # a term escaped in its key
        odd = [lambda: TxKeys(user="u", id="3", body="fig k:{i}*").save()]
        _refused(odd, CorruptRecord, redis_client)
        redis_client.delete(term(escape("k:{i}*")))
        redis_client.delete(term("old"), term("pear"))  # terms of the stored records
        redis_client.set(term("old"), "x")
        redis_client.set(term("pear"), "x")
        removing = [
            lambda: edited(body="new").save(),
            lambda: edited(body=None).save(update_fields=["body"]),
            lambda: TxKeys.bulk_update([edited()], body="new"),
            lambda: edited(id="9").save(migrate_key=True),  # moves: its postings too
            lambda: TxKeys.save_many([edited(body="new")]),
            lambda: TxKeys(user="u", id="2", body="new").save(),  # the expired one's postings
            lambda: TxKeys.load("u", "1").delete(),
            lambda: TxKeys.model_construct(user="u", id="2").delete(),
            lambda: TxKeys.sweep_expired("u"),
            lambda: arun(TxKeys.load("u", "1").adelete()),
        ]
        _refused(removing, CorruptRecord, redis_client)
        # A write that leaves the postings as they are does not look at them.
        assert edited(rank=5, kind="x").save(update_fields=["rank", "kind"]).rank == 5
        assert TxKeys.load("u", "1").atomic_increment("rank", 1) == 6
        assert redis_client.get(term("old")) == b"x"


def test_rebuild_refuses_a_term_key_of_another_type(redis_client: redis.Redis) -> None:
    _keyed_records()
    TxKeys(user="u", id="3", body="plum").save()
    redis_client.hset(f"{KEYS_TAG}:r:u:3", "body", "plum kiwi")  # written around typedis
    redis_client.set(term("kiwi"), "x")
    before = dumped(redis_client)
    with pytest.raises(CorruptRecord, match="x:body:t:kiwi"):  # its check reads the lists first
        TxKeys.rebuild_indexes()
    assert dumped(redis_client) == before


def test_the_reference_length_update_skips_a_damaged_posting_list(
    redis_client: redis.Redis,
) -> None:
    for i in range(15):
        TxKeys(user="u", id=str(i), body="apple").save()
    redis_client.delete(term("apple"))
    redis_client.set(term("apple"), "x")  # another record's posting list, damaged by hand
    TxKeys(user="u", id="15", body=" ".join(["kiwi"] * 40)).save()  # the 16th: a checkpoint
    assert redis_client.get(term("apple")) == b"x"
    assert redis_client.zscore(f"{KEYS_TAG}:x:body", "u:15") == 40
    with pytest.raises(CorruptRecord, match="x:body:t:apple"):  # it names the damaged key
        TxKeys.check_indexes()


@pytest.mark.parametrize("server", ["own_server", "own_redis_server"])
def test_an_acl_refusing_a_term_key_refuses_the_write_and_nothing_is_written(
    request: pytest.FixtureRequest, server: str
) -> None:
    url: str = request.getfixturevalue(server)
    admin = redis.Redis.from_url(url)  # pyright: ignore[reportUnknownMemberType]
    t = KEYS_TAG
    writable = [f"~{t}:r:*", f"~{t}:all", f"~{t}:exp", f"~{t}:i:*", f"~{t}:l:*", f"~{t}:z:*"]
    writable.append("~{td:TxKeys}:partitions")
    text = [f"~{t}:x:body", f"~{t}:x:body:s", f"~{t}:x:body:d", f"~{t}:x:body:t:[a-y]*"]
    try:
        admin.flushall()
        typedis.connect(url)
        _keyed_records()
        TxKeys(user="u", id="3", body="zebra").save()
        with as_user(url, admin, "typedis-text-acl", *writable, *text, f"%R~{t}*"):
            refused = [  # terms from z on may be read, not written
                lambda: TxKeys(user="u", id="4", body="apple zoo").save(),
                lambda: TxKeys.save_many([TxKeys(user="u", id="4", body="zoo")]),
                lambda: edited(body="zoo").save(update_fields=["body"]),
                lambda: TxKeys.load("u", "3").delete(),
                lambda: TxKeys(user="u", id="3", body="apple").save(),
            ]
            _refused(refused, PermissionDenied, admin)
            admin.hset(f"{t}:r:u:1", "body", "apple zoo")  # written around typedis
            TxKeys.clean_indexes()  # rebuild's first step: then its indexing is refused
            _refused([TxKeys.rebuild_indexes], PermissionDenied, admin)
            TxKeys(user="u", id="4", body="apple fig").save()  # its terms may be written
            assert TxKeys.load("u", "1").delete()
        assert admin.zscore(term("fig"), "u:4") is not None
    finally:
        admin.execute_command("ACL", "DELUSER", "typedis-text-acl")
        admin.flushall()
        admin.close()
