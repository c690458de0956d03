"""The benchmark data, the same for every contender: plain dicts, standard library only.

The Popoto runner imports this module from its own virtualenv (it must not import typedis), so
keep it free of third-party imports.
"""

from __future__ import annotations

from typing import Any

#: 20 values: at 20,000 records each one is held by exactly 1,000 records.
CUISINES = tuple(f"cuisine-{i:02d}" for i in range(20))
#: rating = position / SCALE, where the positions are a permutation of 0..n-1.
SCALE = 100.0
#: 7919 is prime: i -> i * 7919 mod n is a permutation of 0..n-1 when n is not a multiple of it.
PRIME = 7919


def name(i: int) -> str:
    return f"place-{i:07d}"


def rows(n: int) -> list[dict[str, Any]]:
    """A data set of ``n`` records.

    Six fields: the key, an indexed cuisine (20 values, assigned round-robin), a distinct
    rating whose order is unrelated to the key, and three plain fields.
    """
    return [
        {
            "name": name(i),
            "cuisine": CUISINES[i % len(CUISINES)],
            "rating": ((i * PRIME) % n) / SCALE if n % PRIME else i / SCALE,
            "city": "Lisbon" if i % 2 else "Porto",
            "visits": i,
            "note": "a short note of text",
        }
        for i in range(n)
    ]


def sample_names(n: int, count: int) -> list[str]:
    """``count`` keys spread over a data set of ``n`` records (repeating when count > n)."""
    step = max(1, n // max(1, count))
    return [name((k * step) % n) for k in range(count)]


def spans(n: int, width: int, count: int) -> list[tuple[float, float]]:
    """``count`` rating ranges matching ``min(width, n)`` records each, spread over the index."""
    width = min(width, n)
    starts = [q * (n - width) // max(1, count) for q in range(count)]
    return [(s / SCALE, (s + width - 1) / SCALE) for s in starts]


def wide_spans(n: int, count: int) -> list[tuple[float, float]]:
    """``count`` rating ranges matching about half of the ``n`` records each."""
    return spans(n, max(1, n // 2), count)


def values(count: int) -> list[str]:
    """``count`` cuisine values, in turn."""
    return [CUISINES[k % len(CUISINES)] for k in range(count)]
