"""Themed name pools, as the Go original's `kubectl gt sling --theme` knew them."""

from __future__ import annotations

from typing import Final

from gastown.api.rig import NamepoolTheme

POOLS: Final[dict[NamepoolTheme, tuple[str, ...]]] = {
    NamepoolTheme.MAD_MAX: (
        "furiosa", "nux", "slit", "rictus", "capable", "toast", "dag", "cheedo",
        "angharad", "immortan", "keeper", "valkyrie", "ace", "morsov", "corpus",
        "war-boy", "doof", "coma", "organic", "prime", "scrotus", "hope", "glory",
    ),
    NamepoolTheme.MINERALS: (
        "obsidian", "quartz", "jasper", "onyx", "opal", "topaz", "amber", "jade",
        "ruby", "sapphire", "emerald", "diamond", "garnet", "pearl", "coral",
        "crystal", "flint", "granite", "marble", "slate", "basalt", "pumice",
    ),
    NamepoolTheme.WASTELAND: (
        "rust", "chrome", "nitro", "guzzle", "witness", "shiny", "fury", "road",
        "thunder", "dust", "storm", "blade", "spike", "chain", "gear", "bolt",
        "piston", "diesel", "vapor", "scrap", "iron", "steel",
    ),
}  # fmt: skip

# Gas Town's own roles: a polecat with one of these names would read as that role in every
# listing and log, so allocation never hands them out (the wasteland pool contains one).
RESERVED: Final = frozenset({"witness", "mayor", "deacon", "refinery", "crew"})
