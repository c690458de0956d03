"""Smoke case for typing_tests/run.py: one line that must pass, one that must fail."""

from typing import assert_type

n = len("abc")
assert_type(n, int)

x: int = "a"  # E: str is not int
