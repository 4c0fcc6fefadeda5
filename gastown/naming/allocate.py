"""Choosing a polecat name that no live polecat of the rig already has.

Pure and seeded: the caller passes the names in use (read from the cluster) and a seed, so
the same inputs always give the same name and tests can pin it.
"""

from __future__ import annotations

import random
from collections.abc import Collection

from gastown.api import patterns
from gastown.api.rig import NamepoolTheme
from gastown.naming.pools import POOLS, RESERVED


class NamingError(ValueError):
    """A name the user asked for cannot be used."""


def check_name(name: str) -> str:
    """Validate a user-chosen polecat name; the message names the rule and the fix."""
    if name in RESERVED:
        raise NamingError(
            f"name {name!r} is reserved for a Gas Town role ({', '.join(sorted(RESERVED))}); "
            "choose another --name or use --theme"
        )
    if len(name) > patterns.POLECAT_NAME_MAX or not patterns.matches(patterns.DNS1123_LABEL, name):
        raise NamingError(
            f"name {name!r} is not a valid polecat name: lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {patterns.POLECAT_NAME_MAX} "
            "characters"
        )
    return name


def allocate(
    theme: NamepoolTheme | str,
    taken: Collection[str],
    seed: int | str | None = None,
) -> str:
    """A free name from the theme's pool, else `<first-name>-<n>` with the smallest free n.

    The pool is walked in a seeded shuffle so consecutive slings get varied names, and the
    overflow is numbered from the pool's first name so it stays recognisably themed.
    """
    pool = POOLS[NamepoolTheme(theme)]
    candidates = [name for name in pool if name not in RESERVED]
    order = candidates[:]
    random.Random(seed).shuffle(order)  # noqa: S311 - naming, not security
    taken_set = set(taken)
    for name in order:
        if name not in taken_set:
            return name
    base = candidates[0]
    n = 2
    while f"{base}-{n}" in taken_set:
        n += 1
    return f"{base}-{n}"
