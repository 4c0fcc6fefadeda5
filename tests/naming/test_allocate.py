from __future__ import annotations

import pytest

from gastown.api.rig import NamepoolTheme
from gastown.naming import POOLS, RESERVED, NamingError, allocate, check_name


def test_pools_are_the_go_originals() -> None:
    assert POOLS[NamepoolTheme.MAD_MAX][:3] == ("furiosa", "nux", "slit")
    assert "obsidian" in POOLS[NamepoolTheme.MINERALS]
    assert "rust" in POOLS[NamepoolTheme.WASTELAND]


@pytest.mark.parametrize("theme", list(NamepoolTheme))
def test_every_pool_name_is_a_valid_polecat_name(theme: NamepoolTheme) -> None:
    for name in POOLS[theme]:
        if name not in RESERVED:
            assert check_name(name) == name


def test_same_seed_same_name_and_seeds_vary() -> None:
    assert allocate("mad-max", [], seed=7) == allocate("mad-max", [], seed=7)
    assert len({allocate("mad-max", [], seed=s) for s in range(20)}) > 1


@pytest.mark.parametrize("theme", list(NamepoolTheme))
def test_allocation_never_collides_and_never_hands_out_reserved(theme: NamepoolTheme) -> None:
    taken: list[str] = []
    for i in range(len(POOLS[theme]) + 5):
        name = allocate(theme, taken, seed=i)
        assert name not in taken
        assert name not in RESERVED
        check_name(name)
        taken.append(name)


def test_wasteland_pool_contains_a_reserved_name_that_is_skipped() -> None:
    assert "witness" in POOLS[NamepoolTheme.WASTELAND]
    free = [n for n in POOLS[NamepoolTheme.WASTELAND] if n != "witness"]
    # Every other name taken: the next one is an overflow, not "witness".
    assert allocate("wasteland", free, seed=0) == "rust-2"


def test_overflow_numbers_from_two_and_fills_gaps() -> None:
    pool = list(POOLS[NamepoolTheme.MINERALS])
    assert allocate("minerals", pool, seed=1) == "obsidian-2"
    assert allocate("minerals", [*pool, "obsidian-2", "obsidian-4"], seed=1) == "obsidian-3"


def test_unknown_theme_is_refused() -> None:
    with pytest.raises(ValueError, match="fury-road"):
        allocate("fury-road", [], seed=0)


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_reserved_names_are_refused_with_a_next_step(name: str) -> None:
    with pytest.raises(NamingError, match=r"reserved.*--name"):
        check_name(name)


@pytest.mark.parametrize("name", ["Furiosa", "a b", "$(id)", "-x", "x" * 53, "", "furiosa\n"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(NamingError, match="not a valid polecat name"):
        check_name(name)
