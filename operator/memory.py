"""Give freed heap back to the OS now and then.

The initial listing parses every Polecat and pod at once; CPython frees those objects, but
glibc keeps the pages (RSS stays at the startup peak). `malloc_trim(0)` returns them. Harmless
where glibc is absent (the call is skipped).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger("gastown.watcher.memory")


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    return lib if hasattr(lib, "malloc_trim") else None


async def trim_forever(interval: float = 10.0) -> None:
    libc = _libc()
    if libc is None:
        return
    while True:
        await asyncio.sleep(interval)
        libc.malloc_trim(0)
