"""Write the generated CRDs to the chart and to deploy/ (`make crds`).

`--check` exits 1 when the committed files differ from what the models generate, which is
what the drift test and CI rely on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from gastown.api.crd import KINDS, Kind, crd

TARGETS = (Path("charts/gastown-operator/crds"), Path("deploy/crds"))
HEADER = "# Generated from gastown/api by `make crds`; do not edit by hand.\n"


def render(kind: Kind) -> str:
    body = yaml.safe_dump(crd(kind), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


def filename(kind: Kind) -> str:
    return f"{kind.crd_name}.yaml"


def stale_files(root: Path) -> list[Path]:
    """Files under `root` that are missing or differ from the models."""
    stale = []
    for target in TARGETS:
        for kind in KINDS:
            path = root / target / filename(kind)
            if not path.exists() or path.read_text() != render(kind):
                stale.append(path)
    return stale


def write(root: Path) -> list[Path]:
    written = []
    for target in TARGETS:
        (root / target).mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            path = root / target / filename(kind)
            path.write_text(render(kind))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        for path in stale:
            print(f"stale: {path} (run `make crds`)", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.root):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
