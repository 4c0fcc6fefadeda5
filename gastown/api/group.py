"""The API group and version, alone: naming a resource must not build every model's schema
(the CLI's start-up pays for each import; see docs/benchmarks.md)."""

from __future__ import annotations

from typing import Final

GROUP: Final = "gastown.gastown.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
