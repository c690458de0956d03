# The parts of msgpack's API typedis uses (msgpack ships no type information).
from collections.abc import Callable
from typing import Any

def packb(o: Any, *, use_bin_type: bool = ..., default: Callable[[Any], Any] | None = ...) -> bytes: ...
def unpackb(
    packed: bytes,
    *,
    ext_hook: Callable[[int, bytes], Any] = ...,
    raw: bool = ...,
    strict_map_key: bool = ...,
) -> Any: ...

class Timestamp:
    seconds: int
    nanoseconds: int
