"""Issue 10's acceptance, "a real browser": the Temporal UI, opened in headless Chromium against
the dev server, shows a convoy's current details and finds its polecats by the convoy search
attribute. Each check reads the rendered page's text (what a person sees), and keeps a
screenshot (tests/ui/conftest.py, ARTIFACTS).

The convoy is the real ConvoyWorkflow on the UI's dev server (real time), with the harness of
tests/workflows: its Kubernetes activities played by the doubles, its polecats by the stand-in
of tests/workflows/fakepolecat.py (registered as PolecatWorkflow, reporting to the convoy as
the real one does). So the details, search attributes and children the UI shows are the
convoy's own. Four beads: three polecats Done, the fourth held Working, so the page shows a
convoy in progress, as people watch it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gastown.api.identity import convoy_polecat_name, convoy_workflow_id, polecat_workflow_id
from gastown.api.polecat import PolecatPhase
from gastown.workflows import contract as c
from gastown.workflows.convoy import ConvoyWorkflow
from gastown.workflows.messages import ConvoyInput
from tests.ui.chromium import Chromium
from tests.ui.conftest import ARTIFACTS, UIWorld, keep
from tests.workflows import doubles as d
from tests.workflows.doubles import Hold, Run, Script
from tests.workflows.fakepolecat import FakePolecat
from tests.workflows.harness import ConvoyHandle, running

DEADLINE = 60.0  # seconds; the UI renders in about one on an idle machine
NS = "default"  # Temporal's namespace (the convoy's Kubernetes one is the doubles' NAMESPACE)


@dataclass
class Convoy:
    name: str
    beads: list[str]
    handle: ConvoyHandle
    run_id: str
    hold: Hold

    @property
    def workflow_id(self) -> str:
        return convoy_workflow_id(d.NAMESPACE, self.name)

    def polecat_ids(self) -> list[str]:
        return [polecat_workflow_id(d.NAMESPACE, self.polecat(b)) for b in self.beads]

    def polecat(self, bead: str) -> str:
        return convoy_polecat_name(self.name, bead)


async def start_convoy(
    stack: AsyncExitStack, client: Client, name: str, beads: list[str]
) -> Convoy:
    """The real ConvoyWorkflow on a worker of its own (the doubles resolve one convoy), as
    `kubectl gt convoy create` starts it: by identity, a static summary for the UI."""
    hold = Hold()
    script = Script(
        d.resolved("unused"),
        convoy=d.resolved_convoy(name, beads),
        runs={beads[-1]: [Run(hold=hold)]},  # the others are Done at once
    )
    env = WorkflowEnvironment.from_client(client)
    harness = await stack.enter_async_context(running(env, script, [ConvoyWorkflow, FakePolecat]))
    handle: ConvoyHandle = await client.start_workflow(
        ConvoyWorkflow.run,
        ConvoyInput(namespace=d.NAMESPACE, name=name, uid=f"uid-{name}"),
        id=convoy_workflow_id(d.NAMESPACE, name),
        task_queue=harness.task_queue,
        static_summary=f"Convoy {name}: {len(beads)} beads to rig {d.RIG}",
    )
    assert handle.first_execution_run_id is not None
    return Convoy(name, beads, handle, handle.first_execution_run_id, hold)


async def until_count(client: Client, query: str, want: int) -> None:
    """Until the visibility store answers `query` with `want` workflows (what the UI lists)."""
    end = time.monotonic() + DEADLINE
    while (got := (await client.count_workflows(query)).count) != want:
        assert time.monotonic() < end, f"{query!r}: {got} workflows, want {want}"
        await asyncio.sleep(0.1)


async def until_working(convoy: Convoy) -> None:
    """Until the convoy knows its held polecat is Working (its report is a signal of its own)."""
    end = time.monotonic() + DEADLINE
    while True:
        progress = await convoy.handle.query(ConvoyWorkflow.progress)
        held = {b.bead_id: b for b in progress.beads}[convoy.beads[-1]]
        if held.polecat_phase == PolecatPhase.WORKING:
            return
        assert time.monotonic() < end, f"the held polecat is {held}"
        await asyncio.sleep(0.1)


def seen(text: str) -> str:
    """The page's text as a reader would type it: the UI's markdown typesets "3/4" with a
    fraction slash (U+2044); a non-breaking space reads as a space."""
    return text.replace("\u2044", "/").replace("\u00a0", " ")


@pytest.fixture(scope="module")
async def convoy(ui_world: UIWorld) -> AsyncIterator[Convoy]:
    client = ui_world.client
    name = f"ui-{secrets.token_hex(3)}"
    beads = [f"gt-{i}{secrets.token_hex(2)}" for i in range(1, 5)]
    async with AsyncExitStack() as stack:
        main = await start_convoy(stack, client, name, beads)
        # A decoy the query must not find: another convoy, with its polecat.
        other = await start_convoy(stack, client, f"{name}-x", [f"gt-9{secrets.token_hex(2)}"])
        other.hold.release()
        await until_count(client, f'WorkflowId="{main.workflow_id}" AND GastownProgress=75', 1)
        await until_working(main)
        await until_count(client, f'GastownConvoy="{name}"', 1 + len(beads))
        await other.handle.result()
        try:
            yield main
        finally:
            main.hold.release()
            progress = await main.handle.result()
            assert progress.counts.done == len(beads), progress.counts


def page(browser: Chromium, url: str, probe_text: list[str], shot: str) -> str:
    """Open url, wait until every string of probe_text is on the rendered page (whitespace
    collapsed), keep a screenshot, return the page's text."""
    browser.open(url)

    def ready(b: Chromium) -> str | None:
        text = seen(b.text())
        flat = " ".join(text.split())  # "5 Workflows" is two elements: "5\nWorkflows"
        return text if all(p in flat for p in probe_text) else None

    try:
        return browser.wait_for(ready, DEADLINE, f"text {probe_text!r}")
    finally:
        keep(browser.screenshot(ARTIFACTS / f"{shot}.png"))


async def test_the_convoy_page_shows_its_current_details(
    ui_world: UIWorld, convoy: Convoy, browser: Chromium
) -> None:
    wid = urllib.parse.quote(convoy.workflow_id, safe="")
    url = f"{ui_world.ui}/namespaces/{NS}/workflows/{wid}/{convoy.run_id}/user-metadata"
    text = await asyncio.to_thread(
        page, browser, url, ["3/4 (75%)", convoy.polecat(convoy.beads[-1])], "convoy-details"
    )
    assert f"Convoy {convoy.name}: 4 beads to rig {d.RIG}" in text  # the static summary
    assert f"InProgress · 3/4 (75%) · convoy {convoy.name}" in text
    assert "done 3 · running 1 · queued 0 · pending 0 · failed 0 · skipped 0" in text
    # The list: "✓ bead → polecat · phase · branch", one bead a line.
    rows = {
        head.split()[-1]: [part.strip() for part in rest.split(" · ")]
        for line in text.splitlines()
        if " → " in line
        for head, rest in [line.split(" → ", 1)]
    }
    for bead in convoy.beads[:-1]:
        assert rows[bead][:3] == [convoy.polecat(bead), "Done", f"feature/{bead}"], rows
    last = convoy.beads[-1]
    assert rows[last][:2] == [convoy.polecat(last), "Working"], rows


async def test_the_workflow_list_finds_the_convoys_polecats_by_its_attribute(
    ui_world: UIWorld, convoy: Convoy, browser: Chromium
) -> None:
    query = f'{c.SA_CONVOY.name}="{convoy.name}"'
    url = f"{ui_world.ui}/namespaces/{NS}/workflows?query={urllib.parse.quote(query)}"
    polecats = convoy.polecat_ids()
    # The rows and the UI's own count for the query arrive by separate calls: wait for both.
    count = f"{1 + len(polecats)} Workflows"
    text = await asyncio.to_thread(page, browser, url, [*polecats, count], "convoy-polecats")
    assert f"{convoy.name}-x" not in text  # the other convoy, and its polecat
    listed = await asyncio.to_thread(listed_workflow_ids, browser)
    # The convoy carries its own attribute too (CONVOY.md): it and exactly its polecats.
    assert sorted(listed) == sorted([convoy.workflow_id, *polecats])


def listed_workflow_ids(browser: Chromium) -> list[str]:
    """The workflow IDs the list's rows link to (one link per row: /workflows/<id>/<run>)."""
    hrefs = browser.evaluate(
        "[...document.querySelectorAll('table a[href]')].map(a => a.getAttribute('href'))"
    )
    pattern = re.compile(rf"^/namespaces/{NS}/workflows/([^/?]+)/[0-9a-f-]{{36}}(?:/|$)")
    ids = {urllib.parse.unquote(m[1]) for h in hrefs if (m := pattern.match(h))}
    return sorted(ids)
