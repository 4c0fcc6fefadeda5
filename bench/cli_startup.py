"""Start-up time of `kubectl gt` at a terminal, against the bare interpreter as baseline.

    .venv/bin/python bench/cli_startup.py [--runs 30]

Prints the median and p95 wall time of each command and the ratio to the baseline measured
in the same run (the machine is noisy; the ratio travels better than the seconds).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "kubectl-gt --help": [str(BIN / "kubectl-gt"), "--help"],
    "kubectl-gt polecat --help": [str(BIN / "kubectl-gt"), "polecat", "--help"],
    "kubectl-gt version": [str(BIN / "kubectl-gt"), "version"],
}


def measure(argv: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    baseline = None
    print("| command | median s | p95 s | vs baseline |\n|---|---|---|---|")
    for name, argv in COMMANDS.items():
        measure(argv, 2)  # warm the page cache
        samples = sorted(measure(argv, args.runs))
        median = statistics.median(samples)
        p95 = samples[int(0.95 * (len(samples) - 1))]
        baseline = baseline or median
        print(f"| `{name}` | {median:.3f} | {p95:.3f} | {median / baseline:.1f}x |")


if __name__ == "__main__":
    main()
