"""Issue 10's acceptance, "a real browser": the Temporal UI, opened in headless Chromium against
the dev server, shows a convoy's current details and finds its polecats by the convoy search
attribute. Each check reads the rendered page's text (what a person sees), and keeps a
screenshot (tests/ui/conftest.py, ARTIFACTS).

The convoy is tests/ui/standin.py's stand-in, which presents itself to the UI as ConvoyWorkflow
does (ID, static summary, search attributes, current details, children); four beads, three
polecats Done and the fourth still Working, so the page shows a convoy in progress.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from temporalio.client import Client, WorkflowHandle

from gastown.api.identity import convoy_polecat_name, convoy_workflow_id
from tests.ui.chromium import Chromium
from tests.ui.conftest import ARTIFACTS, UIWorld, keep
from tests.ui.standin import (
    RELEASE,
    StandInConvoyInput,
    StandInConvoyWorkflow,
    polecat_ids,
)

DEADLINE = 60.0  # seconds; the UI renders in about one on an idle machine
NS = "default"


@dataclass
class Convoy:
    inp: StandInConvoyInput
    handle: WorkflowHandle[StandInConvoyWorkflow, str]
    run_id: str

    @property
    def workflow_id(self) -> str:
        return convoy_workflow_id(self.inp.namespace, self.inp.name)


async def start_convoy(world: UIWorld, name: str, beads: list[str], hold_last: bool) -> Convoy:
    inp = StandInConvoyInput(NS, name, rig="ui-rig", beads=beads, hold_last=hold_last)
    handle = await world.client.start_workflow(
        StandInConvoyWorkflow.run,
        inp,
        id=convoy_workflow_id(NS, name),
        task_queue=world.task_queue,
        static_summary=f"Convoy {name}: {len(beads)} beads to rig ui-rig",
    )
    assert handle.first_execution_run_id is not None
    return Convoy(inp, handle, handle.first_execution_run_id)


async def until_count(client: Client, query: str, want: int) -> None:
    """Until the visibility store answers `query` with `want` workflows (what the UI lists)."""
    end = time.monotonic() + DEADLINE
    while (got := (await client.count_workflows(query)).count) != want:
        assert time.monotonic() < end, f"{query!r}: {got} workflows, want {want}"
        await asyncio.sleep(0.1)


def seen(text: str) -> str:
    """The page's text as a reader would type it: the UI's markdown typesets "3/4" with a
    fraction slash (U+2044); a non-breaking space reads as a space."""
    return text.replace("\u2044", "/").replace("\u00a0", " ")


@pytest.fixture(scope="module")
async def convoy(ui_world: UIWorld) -> AsyncIterator[Convoy]:
    name = f"ui-{secrets.token_hex(3)}"
    beads = [f"gt-{i}{secrets.token_hex(2)}" for i in range(1, 5)]
    main = await start_convoy(ui_world, name, beads, hold_last=True)
    # Decoys the query must not find: another convoy's polecat, and that convoy.
    other = await start_convoy(ui_world, f"{name}-x", [f"gt-9{secrets.token_hex(2)}"], False)
    client = ui_world.client
    await until_count(client, f'WorkflowId="{main.workflow_id}" AND GastownProgress=75', 1)
    await until_count(client, f'GastownConvoy="{name}"', 1 + len(beads))
    await other.handle.result()
    try:
        yield main
    finally:
        held = client.get_workflow_handle(polecat_ids(main.inp)[-1])
        await held.signal(RELEASE)
        assert await main.handle.result() == "Complete"


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
    inp = convoy.inp
    wid = urllib.parse.quote(convoy.workflow_id, safe="")
    url = f"{ui_world.ui}/namespaces/{NS}/workflows/{wid}/{convoy.run_id}/user-metadata"
    text = await asyncio.to_thread(
        page, browser, url, ["3/4 (75%)", inp.beads[-1]], "convoy-current-details"
    )
    assert f"Convoy {inp.name}: 4 beads to rig ui-rig" in text  # the static summary
    assert f"InProgress · 3/4 (75%) · {inp.name}" in text
    assert "done 3 · running 1 · queued 0 · pending 0 · failed 0" in text
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in text.splitlines() if "\t" in line}
    for bead in inp.beads[:-1]:
        assert rows[bead][:3] == [convoy_polecat_name(inp.name, bead), "Done", f"feature/{bead}"]
    last = inp.beads[-1]
    assert rows[last][:2] == [convoy_polecat_name(inp.name, last), "Working"]


async def test_the_workflow_list_finds_the_convoys_polecats_by_its_attribute(
    ui_world: UIWorld, convoy: Convoy, browser: Chromium
) -> None:
    query = f'GastownConvoy="{convoy.inp.name}"'
    url = f"{ui_world.ui}/namespaces/{NS}/workflows?query={urllib.parse.quote(query)}"
    polecats = polecat_ids(convoy.inp)
    # The rows and the UI's own count for the query arrive by separate calls: wait for both.
    count = f"{1 + len(polecats)} Workflows"
    text = await asyncio.to_thread(page, browser, url, [*polecats, count], "convoy-polecats")
    assert f"{convoy.inp.name}-x" not in text  # the other convoy, and its polecat
    listed = await asyncio.to_thread(listed_workflow_ids, browser)
    # The convoy carries its own attribute too (CONVOY.md): it and exactly its polecats, not
    # the other convoy's.
    assert sorted(listed) == sorted([convoy.workflow_id, *polecats])


def listed_workflow_ids(browser: Chromium) -> list[str]:
    """The workflow IDs the list's rows link to (one link per row: /workflows/<id>/<run>)."""
    hrefs = browser.evaluate(
        "[...document.querySelectorAll('table a[href]')].map(a => a.getAttribute('href'))"
    )
    pattern = re.compile(rf"^/namespaces/{NS}/workflows/([^/?]+)/[0-9a-f-]{{36}}(?:/|$)")
    ids = {urllib.parse.unquote(m[1]) for h in hrefs if (m := pattern.match(h))}
    return sorted(ids)
