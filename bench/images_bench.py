"""Build time and size of the images `make images` builds, cold and warm.

    .venv/bin/python bench/images_bench.py [--cold-runs 3] [--warm-runs 5] [--start-runs 5]

Cold: what a fresh CI machine pays. The local Debian base (deploy/images/base/build.sh
--force: mmdebstrap + podman import), then each image with buildah's layer cache ignored
(`--no-cache`), with the same flags as the Makefile's `images` target, under bench-only tags
(localhost/gastown-bench/...), so the images the tests use are left alone. Warm: `make images`
itself, with nothing changed (the stamps answer), and after touching one copied source (the
stamps are stale, buildah's layer cache answers every step). Start: `podman run --rm IMAGE
true` as the tests and the sandbox's container mode run it, against the base image as baseline.

Needs root, podman, buildah, mmdebstrap (`make container-tools`) and `make images` first.
Every image the cold builds commit (final and intermediate layers, read from buildah's
output) is removed at the end. Prints Markdown tables: medians, and ratios against the cold
base build (build times) or the base image (start-up) measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
CLAUDE = re.search(r"^CLAUDE_CODE_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
BENCH_BASE = "localhost/gastown-bench/debian-base:bookworm"
BASE = "localhost/gastown/debian-base:bookworm"
IMAGES = {
    "polecat-agent": f"ghcr.io/gastown/polecat-agent:{VERSION}",
    "gastown-operator": f"ghcr.io/gastown/gastown-operator:{VERSION}",
}
DOCKERFILES = {"polecat-agent": "polecat-agent", "gastown-operator": "operator"}
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
CA = "/etc/ssl/certs/ca-certificates.crt"


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout + done.stderr


def bud(name: str, tag: str) -> list[str]:
    """The Makefile's buildah invocation (BUILDAH_BUD and the image's own build args)."""
    argv = ["buildah", "bud", "--isolation", "chroot", "--network", "host", "--layers"]
    if os.path.exists(CA):
        argv += ["--secret", f"id=build-ca,src={CA}"]
    argv += ["--build-arg", f"BASE_IMAGE={BENCH_BASE}", "--build-arg", f"VERSION={VERSION}"]
    if name == "polecat-agent":
        assert CLAUDE, "the Makefile no longer defines CLAUDE_CODE_VERSION"
        argv += ["--build-arg", f"NODE_IMAGE={BENCH_BASE}"]
        argv += ["--build-arg", f"CLAUDE_CODE_VERSION={CLAUDE.group(1)}"]
    return [
        *argv,
        "--no-cache",
        "-f",
        f"deploy/images/{DOCKERFILES[name]}/Dockerfile",
        "-t",
        tag,
        ".",
    ]


def image_id(image: str) -> str:
    return subprocess.run(
        [*PODMAN, "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def remove(images: set[str]) -> None:
    """Remove the images the cold builds committed, children before parents (a parent with a
    child left is refused, so repeat while that makes progress)."""
    left = set(images)
    while left:
        gone = {
            i
            for i in left
            if subprocess.run([*PODMAN, "rmi", i], capture_output=True, check=False).returncode == 0
            or subprocess.run(
                [*PODMAN, "image", "exists", i], capture_output=True, check=False
            ).returncode
            != 0
        }
        if not gone:
            print(f"left behind (still in use?): {sorted(left)}", file=sys.stderr)
            return
        left -= gone


def size_mb(image: str) -> float:
    out = subprocess.run(
        [*PODMAN, "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out) / 1e6


def row(name: str, samples: list[float], baseline: float) -> str:
    median = statistics.median(samples)
    runs = ", ".join(f"{s:.1f}" for s in samples)
    return f"| {name} | {median:.1f} | {median / baseline:.2f}x | {runs} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--start-runs", type=int, default=5)
    args = parser.parse_args()

    cold: dict[str, list[float]] = {"base": [], **{name: [] for name in IMAGES}}
    sizes: dict[str, float] = {}
    committed: set[str] = set()
    try:
        for _ in range(args.cold_runs):
            elapsed, _out = timed(["deploy/images/base/build.sh", BENCH_BASE, "--force"])
            cold["base"].append(elapsed)
            committed.add(image_id(BENCH_BASE))
            for name in IMAGES:
                tag = f"localhost/gastown-bench/{name}:{VERSION}"
                elapsed, out = timed(bud(name, tag))
                cold[name].append(elapsed)
                committed.update(re.findall(r"^--> ([0-9a-f]{11,})$", out, re.M))
                sizes[name] = size_mb(tag)
            print(f"cold run: { {k: round(v[-1], 1) for k, v in cold.items()} }", file=sys.stderr)
            sizes["base"] = size_mb(BENCH_BASE)
    finally:
        tags = [BENCH_BASE, *(f"localhost/gastown-bench/{n}:{VERSION}" for n in IMAGES)]
        subprocess.run([*PODMAN, "rmi", *tags], capture_output=True, check=False)
        remove(committed)

    timed(["make", "-s", "images"])  # whatever a previous change left to do
    warm = [timed(["make", "-s", "images"])[0] for _ in range(args.warm_runs)]
    touched = []
    for _ in range(args.warm_runs):
        (REPO / "gastown" / "__init__.py").touch()
        touched.append(timed(["make", "-s", "images"])[0])

    base = statistics.median(cold["base"])
    print(f"Build times, seconds ({args.cold_runs} cold runs, {args.warm_runs} warm):\n")
    print("| build | median s | vs cold base | runs |\n|---|---|---|---|")
    print(row("cold: Debian base (mmdebstrap + import)", cold["base"], base))
    for name in IMAGES:
        print(row(f"cold: {name} (`--no-cache`)", cold[name], base))
    total = [sum(parts) for parts in zip(*cold.values(), strict=True)]
    print(row("cold: all three (a fresh CI machine)", total, base))
    print(row("warm: `make images`, nothing changed", warm, base))
    print(row("warm: `make images` after `touch gastown/__init__.py`", touched, base))

    print("\nSizes (podman image inspect; the two images share the base's layers):\n")
    print("| image | MB | over the base |\n|---|---|---|")
    for name, mb in sizes.items():
        over = "" if name == "base" else f"{mb - sizes['base']:.0f}"
        print(f"| {name} | {mb:.0f} | {over} |")

    print(f"\nContainer start (`podman run --rm IMAGE true`, median of {args.start_runs}):\n")
    print("| image | median s | vs base |\n|---|---|---|")
    run = [*PODMAN, "run", "--rm", "--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024"]
    run += ["--network=none", "--read-only", "--cap-drop=ALL"]
    start_base = 0.0
    for name, image in {"base": BASE, **IMAGES}.items():
        timed([*run, image, "true"])
        median = statistics.median(timed([*run, image, "true"])[0] for _ in range(args.start_runs))
        start_base = start_base or median
        print(f"| {name} | {median:.2f} | {median / start_base:.2f}x |")


if __name__ == "__main__":
    main()
