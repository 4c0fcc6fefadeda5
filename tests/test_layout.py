"""The repository layout cannot shadow the standard library or load a module twice.

The top-level folders activities/, operator/, workflows/ and cli/ are the real directories
behind gastown/activities and so on (symlinks). operator/ has no __init__.py: with the
repository root on sys.path (`python -m` or `-c` from the root, PYTHONPATH=., an IDE's content
root, pytest's rootdir insertion) it is only a namespace portion, and the standard library's
regular `operator` module wins the import. Everything imports our code as `gastown.*`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
CODE_FOLDERS = ("activities", "operator", "workflows", "cli")
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()


def _from_root(*args: str, pythonpath: bool) -> subprocess.CompletedProcess[str]:
    """Run this interpreter in the repository root, as a developer would, without any guard."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSAFEPATH", "PYTHONPATH")}
    if pythonpath:
        env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_operator_folder_is_a_namespace_portion() -> None:
    assert (REPO / "operator").is_dir()
    assert not (REPO / "operator" / "__init__.py").exists()
    assert (REPO / "gastown" / "operator").resolve() == (REPO / "operator").resolve()


def test_stdlib_operator_wins_with_the_root_on_pythonpath() -> None:
    # PYTHONPATH is on sys.path before site runs, so site's own imports (collections imports
    # operator) would already hit a regular package at the root.
    code = (
        "import collections, operator, pathlib, sys\n"
        "assert operator.eq(1, 1)\n"
        "print(pathlib.Path(operator.__file__).resolve())\n"
        "import gastown.operator.app as app\n"
        "print(pathlib.Path(app.__file__).resolve())\n"
    )
    out = _from_root("-c", code, pythonpath=True)
    assert out.returncode == 0, out.stderr
    stdlib_operator, app = out.stdout.split()
    assert Path(stdlib_operator).parent == STDLIB
    assert Path(app) == REPO / "operator" / "app.py"


def test_stdlib_operator_wins_from_the_root_without_site() -> None:
    # Without site nothing imports `operator` early, so '' (the root) is searched first.
    code = (
        "import collections, operator, pathlib\n"
        "print(pathlib.Path(operator.__file__).resolve())\n"
        "import gastown.operator\n"
        "print(*gastown.operator.__path__)\n"
    )
    out = _from_root("-S", "-c", code, pythonpath=False)
    assert out.returncode == 0, out.stderr
    stdlib_operator, portion = out.stdout.split()
    assert Path(stdlib_operator).parent == STDLIB
    assert Path(portion).resolve() == REPO / "operator"


def _python_files(*roots: str) -> list[Path]:
    """Every .py file under `roots`, through symlinked folders (Path.rglob does not follow)."""
    return sorted(
        Path(top) / name
        for root in roots
        for top, _, names in os.walk(REPO / root, followlinks=True)
        for name in names
        if name.endswith(".py")
    )


def _root_imports(path: Path) -> list[str]:
    """Imports in `path` that name a top-level code folder instead of `gastown.<folder>`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "operator":
                # `from operator import itemgetter` is the standard library; a module of ours
                # named here would be operator/<name>.py reached through the root.
                names = [f"operator.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            top, _, rest = name.partition(".")
            ours = top != "operator" or (REPO / "operator" / f"{rest}.py").exists()
            if top in CODE_FOLDERS and ours:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    return found


def test_every_import_of_our_code_goes_through_gastown() -> None:
    files = _python_files("tests", "bench", "gastown")
    assert REPO / "gastown" / "operator" / "app.py" in files  # the symlinked folders are walked
    offenders = [hit for path in files for hit in _root_imports(path)]
    assert offenders == []


def test_no_module_was_loaded_a_second_time_through_the_root() -> None:
    # Collection imported every test module (and what they import) before any test ran.
    folders = tuple(str(REPO / folder) + os.sep for folder in CODE_FOLDERS)
    twice = sorted(
        name
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", None) or "").startswith(folders)
    )
    assert twice == []


def test_import_linter_sees_every_module_of_the_package() -> None:
    # grimp drops a directory without __init__.py inside a regular package, so gastown.operator
    # is a root package of its own in the import-linter configuration; a new namespace folder
    # that is not listed there would escape every contract.
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    graph = grimp.build_graph(*config["root_packages"], cache_dir=None)
    on_disk = set()
    for path in _python_files("gastown"):
        parts = path.relative_to(REPO).with_suffix("").parts
        on_disk.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert "gastown.operator.app" in on_disk
    assert on_disk - graph.modules == set()
