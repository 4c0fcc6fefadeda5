"""What the payload codec costs per payload: the data converter with and without it.

    .venv/bin/python bench/codec_bench.py [--payloads 5000] [--runs 5]

Each run converts the same objects through the data converter every process uses
(`TemporalSettings.data_converter()`: pydantic JSON), first without the codec (the baseline),
then with the AES-256-GCM codec bound to a workflow as the SDK binds it (format 2, associated
data), then decodes what it encoded, and also decodes format-1 ciphertext (no associated
data, what the codec wrote before). The objects are a polecat's Resolved (about 1.5 KiB of
JSON, a workflow input) and a 64 KiB string (a large activity result). Prints microseconds
per payload (median over runs, after one warm-up run) and the ratio to the baseline of the
same runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gastown.codec import AESGCMCodec, Binding
from gastown.codec.aesgcm import ENCODING, KEY_ID_METADATA, NONCE_BYTES
from gastown.config.temporal import TemporalSettings
from gastown.workflows.messages import Resolved
from tests.workflows.doubles import resolved

Step = Callable[[], Awaitable[Any]]


def format1(codec: AESGCMCodec, payloads: Sequence[Payload], key: bytes) -> list[Payload]:
    """Ciphertext as the codec wrote it before format 2: no associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    cipher = AESGCM(key)
    out = []
    for payload in payloads:
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
        metadata = {"encoding": ENCODING, KEY_ID_METADATA: codec.primary.encode()}
        out.append(Payload(metadata=metadata, data=nonce + sealed))
    return out


async def per_payload(step: Step, count: int) -> float:
    start = time.perf_counter()
    await step()
    return (time.perf_counter() - start) / count * 1e6


async def run_once(objects: list[Any], kind: type, key: bytes) -> dict[str, float]:
    plain = TemporalSettings(address="-", namespace="default").data_converter()
    codec = AESGCMCodec("k1", {"k1": key}).bound_to(Binding("default", "polecat/ns/furiosa"))
    coded = TemporalSettings(address="-", namespace="default", codec=codec).data_converter()
    context = WorkflowSerializationContext(namespace="default", workflow_id="polecat/ns/furiosa")
    coded = coded.with_context(context)
    encoded = await coded.encode(objects)
    raw = plain.payload_converter.to_payloads(objects)
    old = format1(codec, raw, key)
    n = len(objects)
    types = [kind] * n
    return {
        "baseline: encode, no codec": await per_payload(lambda: plain.encode(objects), n),
        "baseline: decode, no codec": await per_payload(lambda: plain.decode(raw, types), n),
        "codec: encode (format 2)": await per_payload(lambda: coded.encode(objects), n),
        "codec: decode (format 2)": await per_payload(lambda: coded.decode(encoded, types), n),
        "codec: decode (format 1)": await per_payload(lambda: coded.decode(old, types), n),
    }


def table(title: str, runs: list[dict[str, float]]) -> None:
    print(
        f"\n{title}\n\n| step | µs per payload (median) | vs baseline | runs |\n|---|---|---|---|"
    )
    for name in runs[0]:
        values = [r[name] for r in runs]
        median = statistics.median(values)
        base = "baseline: encode" if "encode" in name else "baseline: decode"
        base_median = statistics.median(r[k] for r in runs for k in r if k.startswith(base))
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {median:.1f} | {median / base_median:.2f}x | {shown} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payloads", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    key = base64.b64decode(base64.b64encode(os.urandom(32)))
    inputs = [resolved(f"furiosa-{i}") for i in range(args.payloads)]
    size = len(
        TemporalSettings(address="-", namespace="default")
        .data_converter()
        .payload_converter.to_payloads([inputs[0]])[0]
        .data
    )
    big = ["x" * 65536] * max(1, args.payloads // 10)
    for title, objects, kind in (
        (f"Resolved ({size} bytes of JSON), {len(inputs)} payloads", inputs, Resolved),
        (f"64 KiB string, {len(big)} payloads", big, str),
    ):
        asyncio.run(run_once(objects, kind, key))  # warm-up: imports, caches, first allocations
        runs = [asyncio.run(run_once(objects, kind, key)) for _ in range(args.runs)]
        table(title, runs)


if __name__ == "__main__":
    main()
