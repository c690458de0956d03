"""Existence filter lookups: ``might_exist_batch`` of 100 fingerprints against raw GETBITs.

The filter (``Fingerprinted[str]``, default sizing: 1% at 100,000 tokens, k = 7) is filled by
saving N records of two words each. Each contender then looks up the same N fingerprints, 100
per round trip, half of them words that were saved:
- typedis ``might_exist_batch(Model.field, fingerprints)``: client-side tokenizing and hashing,
  one script call (``BITFIELD_RO`` per token on the server), a dict back;
- raw redis-py: the same offsets (typedis' own hashing, so only the transport differs), one
  pipelined ``GETBIT`` per offset (700 commands per 100 fingerprints), reduced on the client.

Run: `make bench`, or `.venv/bin/python benchmarks/bench_bloom.py [--n 20000] [--rounds 5]`.
"""

from __future__ import annotations

from _common import Contender, arguments, race, setup

from typedis import AutoKey, Model, field, new_id
from typedis._index.bloom_kind import sizing_of
from typedis.memory import Fingerprinted, might_exist_batch

BATCH = 100


class BenchNote(Model):
    id: AutoKey = field(default_factory=new_id)
    topic: Fingerprinted[str]


def main() -> None:
    args = arguments((__doc__ or "").splitlines()[0])
    n: int = args.n
    conn, raw = setup(args.force)
    BenchNote.save_many([BenchNote(topic=f"saved{i} word{i % 97}") for i in range(n)])
    probes = [f"saved{i}" if i % 2 else f"missing{i}" for i in range(n)]
    batches = [probes[i : i + BATCH] for i in range(0, n, BATCH)]
    sizing = sizing_of(BenchNote.__typedis_spec__.fields["topic"])
    key = "{td:BenchNote}:b:topic"
    print(f"N = {n:,} fingerprints per phase, {BATCH} per call, best of {args.rounds} rounds\n")

    def same() -> None:
        return None

    def typedis_batch(_: None) -> None:
        for batch in batches:
            might_exist_batch(BenchNote.topic, batch)

    def raw_getbit(_: None) -> None:
        k = sizing.hashes
        for batch in batches:
            pipe = raw.pipeline(transaction=False)
            shapes: list[list[int]] = []
            for text in batch:
                tokens = sizing.tokens(text)
                shapes.append([len(tokens)])
                for token in tokens:
                    for offset in sizing.offsets(token):
                        pipe.getbit(key, offset)
            bits = pipe.execute()
            out: dict[str, bool] = {}
            at = 0
            for text, (count,) in zip(batch, shapes, strict=True):
                hit = False
                for _ in range(count):
                    hit = hit or all(bits[at : at + k])
                    at += k
                out[text] = hit
            assert len(out) == len(batch)

    typedis_batch(None)  # warm-up: load the script, open connections
    expected = {p: p.startswith("saved") for p in batches[0]}
    got = might_exist_batch(BenchNote.topic, batches[0])
    assert all(got[p] for p in expected if expected[p])
    rates = race(
        n,
        args.rounds,
        [Contender("typedis", same, typedis_batch), Contender("getbit", same, raw_getbit)],
    )
    t, g = rates["typedis"], rates["getbit"]
    print(f"might_exist_batch, {BATCH} fingerprints per round trip")
    print(f"  typedis might_exist_batch        {t:>10,.0f} fingerprints/s")
    print(f"  raw pipelined GETBIT             {g:>10,.0f} fingerprints/s")
    print(f"  ratio typedis / raw GETBIT             = {t / g:.2f}")
    raw.flushdb()
    conn.close()


if __name__ == "__main__":
    main()
