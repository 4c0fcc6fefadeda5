"""Resource quantities (`500m`, `2`, `128Mi`, `1G`) as numbers, for scheduling and OOM."""

from __future__ import annotations

_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "m": 10**-3,
    "u": 10**-6,
    "n": 10**-9,
}


def parse_quantity(value: str | int | float) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)
