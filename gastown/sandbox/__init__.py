"""A sandbox Kubernetes cluster for development and tests — not for production.

One local process speaks enough of the Kubernetes API for the official Python client, kopf
and the real kubectl binary, and a pod runner (the sandbox's kubelet) runs pod containers as
local processes. Production code must never import this package (import-linter enforces it).
See docs/sandbox.md.
"""

from gastown.sandbox.cluster import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
