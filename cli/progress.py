"""Following a CR until it settles (a polecat ready or done, a convoy ended): a spinner on a
terminal, lines otherwise.

Progress comes from a watch on the CR (the same status `kubectl get polecats -w` shows), so
the CLI needs no Temporal round trips and works for kubectl-applied polecats too. `follow`
is the loop; what a status means and how the wait ends is each caller's `step`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from gastown.cli.session import Session

if TYPE_CHECKING:
    from gastown.kube import Resource

FINAL_OK = {"Done"}
FINAL_BAD = {"Failed", "Stuck", "Terminated"}


@contextmanager
def _reporter() -> Iterator[Any]:
    if sys.stdout.isatty():
        from rich.console import Console

        with Console().status("Pending…") as status:
            yield status.update
    else:
        yield lambda text: typer.echo(f"  {text}")


def _describe(status: dict[str, Any]) -> str:
    phase = status.get("phase") or "Pending"
    parts = [phase]
    if status.get("podName"):
        parts.append(f"pod {status['podName']}")
    if status.get("message"):
        parts.append(str(status["message"]))
    return " · ".join(parts)


# What a watched object says: the progress line (None: not ours, passed over) and, once it
# has settled, the ending, which prints the verdict and returns the exit code.
Step = Callable[[dict[str, Any]], tuple[str | None, Callable[[], int] | None]]


def follow(
    session: Session,
    resource: Resource,
    name: str,
    timeout_seconds: int,
    step: Step,
    late: Callable[[str], str],
) -> int:
    """Watch the CR `name` (like `kubectl get -w`) and report each new progress line `step`
    finds, until `step` gives an ending: its exit code. When the time runs out first, the
    error `late` makes of the last line (or `no status yet`) and 1."""
    from gastown.kube.watching import request, watch

    deadline = time.monotonic() + timeout_seconds
    last = ""
    with _reporter() as report:
        while time.monotonic() < deadline:
            remaining = max(1, int(deadline - time.monotonic()))
            for _, obj in watch(
                session.client,
                request(
                    resource,
                    session.namespace,
                    field_selector=f"metadata.name={name}",
                    timeout_seconds=min(remaining, 30),
                ),
            ):
                text, ending = step(obj)
                if text is None:
                    continue
                if text != last:
                    report(text)
                    last = text
                if ending is not None:
                    return ending()
    typer.echo(f"error: {late(last or 'no status yet')}", err=True)
    return 1


def wait_for(
    session: Session, name: str, run_id: str, until_ready: bool, timeout_seconds: int
) -> int:
    """0 when the polecat got there, 1 when it failed or the time ran out."""
    from gastown.kube import POLECATS

    def step(obj: dict[str, Any]) -> tuple[str, Callable[[], int] | None]:
        status = obj.get("status") or {}
        if status.get("runID") != run_id:
            status = {}  # an earlier run's status, or none yet: this run is Pending
        phase = status.get("phase")

        def arrived() -> int:
            typer.echo(_summary(name, status))
            return 0

        def failed() -> int:
            typer.echo(f"error: polecat {name} {phase}: {status.get('message', '')}", err=True)
            return 1

        if phase in FINAL_OK or (until_ready and phase == "Working"):
            return _describe(status), arrived
        return _describe(status), (failed if phase in FINAL_BAD else None)

    def late(last: str) -> str:
        goal = "ready" if until_ready else "done"
        return f"polecat {name} not {goal} after {timeout_seconds}s (last: {last})"

    return follow(session, POLECATS, name, timeout_seconds, step, late)


def _summary(name: str, status: dict[str, Any]) -> str:
    lines = [f"Polecat {name} {status.get('phase', '')}"]
    for key, label in (("branch", "branch"), ("commit", "commit"), ("pullRequestURL", "PR")):
        if status.get(key):
            lines.append(f"  {label}: {status[key]}")
    return "\n".join(lines)
