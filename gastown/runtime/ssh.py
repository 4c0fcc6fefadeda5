"""SSH transport for git: a private key in a writable HOME and strict host-key checking.

The mounted Secret's files are read-only and often group-readable, which ssh refuses, so the
key is copied to $HOME/.ssh with mode 0600. Host keys are never accepted on first use: they come
from the rig's known_hosts ConfigMap, or from the built-in keys of the big forges below.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from gastown.runtime.known_hosts import BUILTIN_KNOWN_HOSTS

#: Key names accepted in the git Secret, in order of preference.
KEY_NAMES = ("ssh-privatekey", "id_ed25519", "id_ecdsa", "id_rsa", "identity")


_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?!//)(?P<path>.+)$")


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int | None


def parse_ssh_url(url: str) -> SshTarget | None:
    """The host (and port) of an ssh:// or scp-like git URL; None for other transports."""
    if url.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        rest = url.split("://", 1)[1]
        authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        if authority.startswith("["):
            host, _, port = authority[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = authority.partition(":")
        return SshTarget(host, int(port) if port.isdigit() else None)
    if "://" in url:
        return None
    match = _SCP_LIKE.match(url)
    if match and not url.startswith(("/", ".")):
        return SshTarget(match.group("host"), None)
    return None


def known_hosts_entry_name(target: SshTarget) -> str:
    """How ssh names the host in known_hosts: `host` on port 22, `[host]:port` otherwise."""
    if target.port in (None, 22):
        return target.host
    return f"[{target.host}]:{target.port}"


def unknown_host_hint(target: SshTarget) -> str:
    port = f"-p {target.port} " if target.port not in (None, 22) else ""
    return (
        f"the SSH host key of {known_hosts_entry_name(target)} is not known: put the host's keys "
        f"(from `ssh-keyscan {port}{target.host}`, checked against the provider's published "
        "fingerprints) under the key known_hosts of a ConfigMap and name it in the Polecat's "
        "spec.kubernetes.sshKnownHostsConfigMapRef (or the Rig's default)"
    )


def find_key(secret_dir: Path | None) -> Path | None:
    if secret_dir is None:
        return None
    for name in KEY_NAMES:
        candidate = secret_dir / name
        if candidate.is_file():
            return candidate
    return None


def prepare(home: Path, secret_dir: Path | None, known_hosts_file: Path | None) -> str:
    """Install key and known_hosts under HOME and return a GIT_SSH_COMMAND value.

    The command is a shell string (git runs it with sh), so every path is shell-quoted; the
    paths are our own files under HOME, never user text.
    """
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    known_hosts = ssh_dir / "gt_known_hosts"
    if known_hosts_file is not None and known_hosts_file.is_file():
        text = known_hosts_file.read_text()
    else:
        text = BUILTIN_KNOWN_HOSTS
    _write_private(known_hosts, text if text.endswith("\n") else text + "\n", 0o644)
    parts = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        "ConnectTimeout=30",
    ]
    key = find_key(secret_dir)
    if key is not None:
        data = key.read_bytes()
        if not data.endswith(b"\n"):
            data += b"\n"  # ssh rejects an OpenSSH key without its final newline
        target = ssh_dir / "gt_identity"
        _write_private(target, data, 0o600)
        parts += ["-i", str(target), "-o", "IdentitiesOnly=yes"]
    return shlex.join(parts)


def _write_private(path: Path, data: str | bytes, mode: int) -> None:
    """Write a file that is created with `mode` from the start (no window with wider rights)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
