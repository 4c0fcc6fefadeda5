"""Clone and push over SSH through a real, throwaway sshd (Debian's openssh-server) on loopback."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Pod, wait_for
from .test_command_agent import command_env

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass
class SshServer:
    port: int
    user: str
    host_public_key: str
    client_key: Path

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_public_key}\n"


def keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(64).startswith(b"SSH-2.0")
    except OSError:
        return False


@pytest.fixture
def sshd(sandbox: Path) -> Iterator[SshServer]:
    if not os.path.exists(SSHD):
        pytest.fail("sshd is missing: run `make test-tools` (installs openssh-server)")
    directory = sandbox / "sshd"
    directory.mkdir()
    host_public = keygen(directory / "host_ed25519", "host")
    client_public = keygen(directory / "client_ed25519", "polecat")
    (directory / "authorized_keys").write_text(client_public + "\n")
    user = pwd.getpwuid(os.geteuid()).pw_name
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {directory / 'host_ed25519'}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {directory / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user}",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    log = (directory / "sshd.log").open("wb")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    try:
        wait_for(lambda: banner(port) or proc.poll() is not None, timeout=20, what="sshd to listen")
        if proc.poll() is not None:
            pytest.fail(f"sshd exited: {(directory / 'sshd.log').read_text()}")
        yield SshServer(port, user, host_public, directory / "client_ed25519")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def ssh_pod(pod_factory: Callable[..., Pod], sshd: SshServer) -> Pod:
    pod = pod_factory()
    # Server-side git runs as the sshd login user, so the origin belongs to it.
    for root, dirs, files in os.walk(pod.origin):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, os.geteuid(), os.getegid())
    # Secret key files are mounted without their final newline more often than not.
    key = sshd.client_key.read_bytes().rstrip(b"\n")
    secret = pod.secret_dir("git-creds", {"ssh-privatekey": key})
    pod.env.update(GT_REPO_URL=sshd.url(pod.origin), GT_GIT_SECRET_DIR=str(secret))
    return pod


def test_clone_and_push_over_ssh_with_known_hosts_configmap(ssh_pod: Pod, sshd: SshServer) -> None:
    known = ssh_pod.secret_dir("known-hosts", {"known_hosts": sshd.known_hosts_line()})

    init = ssh_pod.run("init", GT_KNOWN_HOSTS_FILE=str(known / "known_hosts"))
    assert init.returncode == 0, init.stderr
    run = ssh_pod.run(
        "run", GT_KNOWN_HOSTS_FILE=str(known / "known_hosts"), **command_env("commit")
    )

    assert run.returncode == 0, run.stderr
    assert run.result is not None
    assert run.result["pushed"] is True
    key = ssh_pod.home / ".ssh" / "gt_identity"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.stat().st_uid == ssh_pod.uid
    pushed = subprocess.run(
        [
            "git",
            "--git-dir",
            str(ssh_pod.origin),
            "rev-parse",
            "refs/heads/polecat/furiosa/dm-0001",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pushed.stdout.strip() == run.result["headCommit"]
    # The private key never lands in the repository's config or the output.
    private = sshd.client_key.read_text().strip().splitlines()[1]
    config = (ssh_pod.workspace / ".git" / "config").read_text()
    for text in (config, run.stdout, run.stderr, init.stderr):
        assert private not in text


def test_unknown_host_key_fails_with_instructions(ssh_pod: Pod) -> None:
    # No ConfigMap: only the built-in github/gitlab/bitbucket keys are trusted.
    run = ssh_pod.run("init")

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["outcome"] == "clone_failed"
    assert run.result["errorClass"] == "host_key_unknown"
    assert "sshKnownHostsConfigMapRef" in run.result["message"]
    assert not (ssh_pod.workspace / ".git").exists()


def test_changed_host_key_is_refused(ssh_pod: Pod, sshd: SshServer, sandbox: Path) -> None:
    impostor = keygen(sandbox / "impostor", "impostor")
    known = ssh_pod.secret_dir(
        "known-hosts", {"known_hosts": f"[127.0.0.1]:{sshd.port} {impostor}\n"}
    )

    run = ssh_pod.run("init", GT_KNOWN_HOSTS_FILE=str(known / "known_hosts"))

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "host_key_changed"


def test_unauthorised_key_is_auth_refused(ssh_pod: Pod, sshd: SshServer, sandbox: Path) -> None:
    keygen(sandbox / "stranger", "stranger")
    secret = ssh_pod.secret_dir(
        "stranger-creds", {"id_ed25519": (sandbox / "stranger").read_text()}
    )
    known = ssh_pod.secret_dir("known-hosts", {"known_hosts": sshd.known_hosts_line()})

    run = ssh_pod.run(
        "init", GT_GIT_SECRET_DIR=str(secret), GT_KNOWN_HOSTS_FILE=str(known / "known_hosts")
    )

    assert run.returncode == 15
    assert run.result is not None
    assert run.result["errorClass"] == "auth_refused"
