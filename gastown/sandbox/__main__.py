"""`python -m gastown.sandbox serve`: the sandbox cluster as a standalone process.

A development and test tool, not a Kubernetes distribution: state lives in memory and is gone
when the process exits. `kubectl gt dev up` runs this in the background.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from gastown.sandbox.cluster import Sandbox, SandboxConfig


def _gastown_crds() -> str:
    """Our CRDs, generated from the API models (works without a repository checkout)."""
    from gastown.api.crd import KINDS
    from gastown.api.crdgen import render

    return "\n---\n".join(render(kind) for kind in KINDS)


def _write_ready(path: Path, data: dict[str, object] | None) -> None:
    """`dev up` waits for this file: it appears only once the server accepts requests."""
    if data is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(data))


async def serve(args: argparse.Namespace, state: Path) -> None:
    sandbox = Sandbox(
        SandboxConfig(
            state_dir=state,
            host=args.host,
            port=args.port,
            crds=tuple(Path(p) for p in args.crd),
            node_cpu=args.node_cpu,
            node_memory=args.node_memory,
            node_pods=args.node_pods,
            tls=not args.insecure_http,
            honour_run_as_user=not args.ignore_run_as_user,
            containers=args.containers,
            podman=args.podman,
            bin_dirs=tuple(Path(d) for d in args.bin_dir),
            instant_images=dict(i.split("=", 1) for i in args.instant_image),
            bookmark_interval=args.bookmark_interval,
            token=None if args.insecure_http else SandboxConfig(state_dir=state).token,
        )
    )
    await sandbox.start()
    if args.gastown_crds:
        sandbox.install_crds(_gastown_crds())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = {"url": sandbox.url, "kubeconfig": str(sandbox.kubeconfig_path), "pid": os.getpid()}
    _write_ready(state / "ready.json", ready)
    print(f"sandbox cluster serving at {sandbox.url}", flush=True)
    print(f"KUBECONFIG={sandbox.kubeconfig_path}", flush=True)
    try:
        await stop.wait()
    finally:
        _write_ready(state / "ready.json", None)
        await sandbox.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gastown.sandbox",
        description="Sandbox Kubernetes API + pod runner for development and tests "
        "(not for production; state is in memory).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the sandbox cluster until SIGTERM")
    p.add_argument("--state-dir", default=".gastown-dev/sandbox")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--crd", action="append", default=[], help="CRD YAML file to install")
    p.add_argument("--gastown-crds", action="store_true", help="install gastown's own CRDs")
    p.add_argument("--node-cpu", default="8")
    p.add_argument("--node-memory", default="16Gi")
    p.add_argument("--node-pods", type=int, default=110)
    p.add_argument(
        "--bookmark-interval",
        type=float,
        default=60.0,
        help="seconds between watch BOOKMARK events",
    )
    p.add_argument(
        "--instant-image",
        action="append",
        default=[],
        metavar="PATTERN=MESSAGE",
        help="containers of matching images exit 0 at once with MESSAGE (for benchmarks)",
    )
    p.add_argument(
        "--bin-dir",
        action="append",
        default=[],
        help="directory put first on containers' PATH (where the images' programs live)",
    )
    p.add_argument(
        "--containers",
        action="store_true",
        help="container mode: run pods with podman from the real local images "
        "(`make images`; nothing is pulled), instead of as local processes",
    )
    p.add_argument("--podman", default="podman", help="the podman binary (container mode)")
    p.add_argument(
        "--ignore-run-as-user",
        action="store_true",
        help="run containers as this process's user, ignoring runAsUser/runAsGroup",
    )
    p.add_argument(
        "--insecure-http",
        action="store_true",
        help="plain HTTP without a token (kubectl will refuse tokens over HTTP)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args, Path(args.state_dir).resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
