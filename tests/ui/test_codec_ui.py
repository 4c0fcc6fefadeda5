"""Issue 13's acceptance, "the UI, through the codec server, shows them decoded": the Temporal
UI of a dev server whose codec endpoint is our `gastown-operator codec-server`, in headless
Chromium. A workflow started through a client with the payload codec holds only ciphertext
(a client without the codec reads `binary/encrypted`), and the UI page shows its input in
clear: the browser called the codec server across origins (CORS for the UI's origin)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.codec import ENCODING
from gastown.sandbox.temporal_dev import free_port, start_dev_argv, wait_for_frontend
from tests.codec.keys import codec_converter, new_key, write_key_file
from tests.codec.test_codec_server import _get
from tests.conftest import wait_for_ui
from tests.ui.chromium import Chromium
from tests.ui.conftest import ARTIFACTS, keep
from tests.ui.test_temporal_ui import DEADLINE, seen

OPERATOR = str(Path(sys.executable).parent / "gastown-operator")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("codec") / "keys.json"
    return write_key_file(path, "k1", {"k1": new_key()})


@pytest.fixture(scope="module")
def ports() -> tuple[int, int, int]:
    return free_port(), free_port(), free_port()


@pytest.fixture(scope="module")
def codec_server(key_file: Path, ports: tuple[int, int, int]) -> Iterator[str]:
    _, ui_port, codec_port = ports
    process = subprocess.Popen(
        [
            OPERATOR,
            "codec-server",
            "--codec-key-file",
            str(key_file),
            "--bind-address",
            f"127.0.0.1:{codec_port}",
            "--ui-origin",
            f"http://127.0.0.1:{ui_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{codec_port}"
    try:
        wait_for_health(url, process)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def wait_for_health(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while _get(f"{url}/healthz") != 200:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the codec server did not start"
        time.sleep(0.05)


@pytest.fixture(scope="module")
async def ui_with_codec(
    codec_server: str, ports: tuple[int, int, int]
) -> AsyncIterator[tuple[str, str]]:
    """A dev server of its own whose UI decodes through `codec_server`: (address, UI URL)."""
    port, ui_port, _ = ports
    argv = [*start_dev_argv(port, ui_port, None), "--ui-codec-endpoint", codec_server]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        await wait_for_frontend(f"127.0.0.1:{port}", "default", 60)
        ui = f"http://127.0.0.1:{ui_port}"
        settings = await asyncio.to_thread(wait_for_ui, ui, "default", 60)
        # The UI this test opens is the one that sends payloads to our codec server.
        assert settings["Codec"]["Endpoint"] == codec_server, settings["Codec"]
        yield f"127.0.0.1:{port}", ui
    finally:
        proc.terminate()
        await proc.wait()


async def test_the_ui_shows_encrypted_input_decoded(
    ui_with_codec: tuple[str, str], codec_server: str, key_file: Path, browser: Chromium
) -> None:
    address, ui = ui_with_codec
    codec = codec_server
    converter = codec_converter(key_file)
    client = await Client.connect(address, data_converter=converter)
    task = f"decoded-in-the-ui-{secrets.token_hex(6)}"
    # No worker serves this queue: the input is in the history's first event, which is
    # what the UI shows; nothing needs to run.
    handle = await client.start_workflow(
        "PolecatWorkflow",
        {"task": task},
        id=f"codec-ui-{secrets.token_hex(4)}",
        task_queue=f"nobody-{secrets.token_hex(4)}",
    )
    plain = await Client.connect(address, data_converter=pydantic_data_converter)
    raw = await plain.get_workflow_handle(handle.id).fetch_history()
    (stored,) = raw.events[0].workflow_execution_started_event_attributes.input.payloads
    assert stored.metadata["encoding"] == ENCODING
    assert task.encode() not in raw.events[0].SerializeToString()

    wid = urllib.parse.quote(handle.id, safe="")
    url = f"{ui}/namespaces/default/workflows/{wid}/{handle.result_run_id}/history"

    def decoded(b: Chromium) -> str | None:
        text = seen(b.text())
        return text if task in text else None

    await asyncio.to_thread(browser.open, url)
    try:
        text = await asyncio.to_thread(browser.wait_for, decoded, DEADLINE, f"{task!r} shown")
    finally:
        keep(await asyncio.to_thread(browser.screenshot, ARTIFACTS / "codec-decoded.png"))
    assert "binary/encrypted" not in text
    # The clear text came from the codec server: the page POSTed the payloads to it.
    asked = [
        e["params"]["request"]
        for e in browser.events
        if e["method"] == "Network.requestWillBeSent"
        and e["params"]["request"]["url"].startswith(f"{codec}/decode")
    ]
    assert any(r["method"] == "POST" for r in asked), browser.story()
    await handle.terminate("test over")
