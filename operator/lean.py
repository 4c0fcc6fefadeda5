"""Import kopf without the official Kubernetes client.

kopf imports `kubernetes.client` (and pykube, kubernetes_asyncio) at import time whenever they
are installed, only to recognise their model objects in `kopf.adopt()` and the like, which the
watcher never calls. The official client is installed (the CLI and the worker use it), and its
~1,000 model classes cost the watcher about 10 MB of RSS (docs/benchmarks.md, Watcher). So
while kopf is imported those packages look absent, and kopf falls back to its stand-ins for
them; nothing else changes, and a later `import kubernetes` (the official transport for
credentials only it can handle) works as usual.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

OPTIONAL_CLIENTS = ("kubernetes", "kubernetes_asyncio", "pykube")


@contextlib.contextmanager
def without(names: tuple[str, ...] = OPTIONAL_CLIENTS) -> Iterator[None]:
    """Imports of `names` fail inside this block, unless they were imported already."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "absent"
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
