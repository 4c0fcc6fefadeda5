"""What the credentials gate costs: polecats per second with a keeper-mode session near its
expiry (the gate before the slot and before the pod, one refresh for the whole wave, a
polecat's own token Secret written and revoked) against polecats with no Claude credentials
(no gate), in the same run; and how many refreshes the wave made.

    .venv/bin/python bench/credentials_bench.py [--polecats 200] [--window 50] [--runs 3]

Everything real but the pod's work, as in bench/sling_bench.py: the sandbox cluster and the
Temporal dev server in their own processes, our production worker (`build_worker` with
`WorkerOptions()`, its keeper refreshing at the local token endpoint of tests/oauth.py, which
rotates refresh tokens), the Kubernetes client. Pods use the sandbox's "instant" image.

- bare_per_s: `--polecats` polecats slung the way `kubectl gt sling` does (the CR, then its
  workflow by identity), at most `--window` at once, on a rig without Claude credentials;
  measured before and after the gated wave (a shared machine's drift falls on both sides).
- gated_per_s: as many on a rig whose credentials Secret holds a session valid 20 more
  minutes, in keeper mode: every polecat needs a token valid for its pod's deadline (an hour),
  so the first of them ask the keeper, which refreshes once and answers them all.
- ratio: gated/bare. refreshes: token endpoint requests in the gated wave (must be 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path

from kubernetes import client
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from gastown.activities.oauth import OAuthConfig
from gastown.api.auth import ANNOTATION_MODE, LABEL_CREDENTIALS, SESSION_KEY
from gastown.api.group import API_VERSION
from gastown.api.identity import polecat_workflow_id
from gastown.kube import POLECATS, writing
from gastown.service.worker import WorkerOptions, build_worker, use_kube_threads
from gastown.workflows import contract as c
from gastown.workflows.messages import PolecatInput, PolecatResult
from gastown.workflows.resolve import OperatorDefaults

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from sling_bench import RESULT
from stack import INSTANT, bench_client, make_rig, print_table, runtime, stack, worker_kube

from tests.oauth import CLIENT_ID, token_endpoint

REFRESH = "bench-refresh-0"


def session_secret(namespace: str) -> client.V1Secret:
    doc = {
        "claudeAiOauth": {
            "accessToken": "bench-access-0",
            "refreshToken": REFRESH,
            "expiresAt": int((time.time() + 1200) * 1000),
        }
    }
    return client.V1Secret(
        metadata=client.V1ObjectMeta(
            name="claude-creds",
            labels={LABEL_CREDENTIALS: "true"},
            annotations={ANNOTATION_MODE: "keeper"},
        ),
        string_data={SESSION_KEY: json.dumps(doc)},
    )


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with stack(RESULT) as (kubeconfig, address):
        with token_endpoint() as oauth:
            oauth.seed(REFRESH)
            out = await measure(args, kubeconfig, address, oauth.url)
            out["refreshes"] = float(oauth.refreshes())
            return out


async def measure(
    args: argparse.Namespace, kubeconfig: str, address: str, token_url: str
) -> dict[str, float]:
    api = bench_client(kubeconfig, 16)
    core = client.CoreV1Api(api)
    ns = f"bench-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    core.create_namespaced_secret(ns, session_secret(ns))
    bare, gated = f"{ns}-bare", f"{ns}-gated"
    make_rig(api, bare, args.window, command=["true"])
    make_rig(api, gated, args.window, command=["true"],
             claudeCredsSecretRef={"name": "claude-creds"})  # fmt: skip
    temporal = await Client.connect(
        address, data_converter=pydantic_data_converter, runtime=runtime()
    )
    queue = "bench"
    options = WorkerOptions(oauth=OAuthConfig(token_url=token_url, client_id=CLIENT_ID))
    use_kube_threads(options)
    kube = worker_kube(kubeconfig, options)
    worker = build_worker(temporal, queue, kube, OperatorDefaults(image=INSTANT), options)
    window = asyncio.Semaphore(args.window)

    async def sling(rig: str, name: str) -> None:
        async with window:
            body = {
                "apiVersion": API_VERSION,
                "kind": "Polecat",
                "metadata": {"name": name},
                "spec": {"rig": rig, "beadID": f"bn-{name}", "desiredState": "Working",
                         "agent": "command"},
            }  # fmt: skip
            created = await kube.run(writing.create(POLECATS, body, ns))
            handle = await temporal.start_workflow(
                c.POLECAT_WORKFLOW,
                PolecatInput(namespace=ns, name=name, uid=created["metadata"]["uid"]),
                id=polecat_workflow_id(ns, name),
                task_queue=queue,
                result_type=PolecatResult,
            )
            result = await handle.result()
            assert result.phase.value == "Done", result

    async def wave(rig: str, tag: str) -> float:
        start = time.perf_counter()
        await asyncio.gather(*(sling(rig, f"{tag}-{i}") for i in range(args.polecats)))
        return args.polecats / (time.perf_counter() - start)

    async with worker:
        await asyncio.gather(*(sling(bare, f"warm-{i}") for i in range(5)))
        before = await wave(bare, "a")
        gated_rate = await wave(gated, "g")
        after = await wave(bare, "b")
    bare_rate = 2 / (1 / before + 1 / after)  # both bare waves' polecats over their time
    return {"bare_per_s": bare_rate, "gated_per_s": gated_rate, "ratio": gated_rate / bare_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polecats", type=int, default=200)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print_table([asyncio.run(run(args)) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
