"""The podman argv builder (gastown/sandbox/podman.py): pure, no podman needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gastown.sandbox import podman as p
from gastown.sandbox.runtime import Refused

IMAGE = p.ImageConfig(user="65532:65532", entrypoint=("/usr/bin/tini", "--"), cmd=("gt",))


def pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "0f0e-1"},
        "spec": {"containers": [container], **spec},
    }


def spec(
    container: dict[str, Any],
    volumes: dict[str, str] | None = None,
    volumes_spec: list[dict[str, Any]] | None = None,
    **kw: Any,
) -> p.RunSpec:
    c = {"name": "c", "image": "img:1", **container}
    if volumes_spec is not None:
        kw["volumes"] = volumes_spec
    return p.run_spec(
        pod(c, **kw),
        c,
        image=IMAGE,
        volumes=volumes or {},
        termination_file="/state/term/c",
        env_file="/state/env/c",
    )


def argv(container: dict[str, Any], **kw: Any) -> list[str]:
    return p.create_argv("podman", spec(container, **kw))


def after_image(args: list[str]) -> list[str]:
    return args[args.index("img:1") + 1 :]


def test_fixed_options_for_this_machine() -> None:
    args = argv({})
    assert args[:4] == ["podman", "--runtime=runc", "--cgroup-manager=cgroupfs", "create"]
    for option in (
        "--pull=never",
        "--network=host",
        "--ulimit=nofile=1024:1024",
        "--ulimit=nproc=1024:1024",
        "--name=gt-0f0e-1-c",
        "--hostname=p",
        "--env-file=/state/env/c",
    ):
        assert option in args


def test_command_and_args_as_kubernetes_reads_them() -> None:
    # Neither: the image's ENTRYPOINT and CMD.
    plain = argv({})
    assert not any(a.startswith("--entrypoint") for a in plain)
    assert after_image(plain) == []
    # args only: ENTRYPOINT kept, CMD replaced.
    only_args = argv({"args": ["gt-polecat", "run"]})
    assert not any(a.startswith("--entrypoint") for a in only_args)
    assert after_image(only_args) == ["gt-polecat", "run"]
    # command: replaces the ENTRYPOINT (and podman then drops the image's CMD).
    both = argv({"command": ["sh", "-c"], "args": ["echo hi"]})
    [entry] = [a for a in both if a.startswith("--entrypoint=")]
    assert json.loads(entry.removeprefix("--entrypoint=")) == ["sh", "-c"]
    assert after_image(both) == ["echo hi"]
    assert after_image(argv({"command": ["true"]})) == []


def test_hostile_values_stay_single_arguments_after_the_image() -> None:
    hostile = ["; rm -rf / #", "$(id)", "--privileged", "a\nb"]
    args = argv({"command": ["/bin/x"], "args": hostile})
    assert after_image(args) == hostile
    assert "--privileged" not in args[: args.index("img:1")]


def test_security_context() -> None:
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    args = argv(
        {"securityContext": restricted},
        securityContext={
            "runAsUser": 1000,
            "runAsGroup": 2000,
            "fsGroup": 3000,
            "supplementalGroups": [4000],
        },
    )
    for option in (
        "--user=1000:2000",
        "--group-add=3000",
        "--group-add=4000",
        "--read-only",
        "--read-only-tmpfs=false",
        "--cap-drop=ALL",
        "--cap-add=NET_BIND_SERVICE",
        "--security-opt=no-new-privileges",
    ):
        assert option in args
    assert not any("seccomp" in a for a in args)  # RuntimeDefault: podman's default profile
    # Container settings win over the pod's.
    assert "--user=7" in argv(
        {"securityContext": {"runAsUser": 7}}, securityContext={"runAsUser": 1}
    )
    unconfined = argv({"securityContext": {"seccompProfile": {"type": "Unconfined"}}})
    assert "--security-opt=seccomp=unconfined" in unconfined
    # Nothing said: the image's USER, escalation not forbidden, a writable root.
    plain = argv({})
    assert not any(a.startswith("--user") or a == "--read-only" for a in plain)
    assert "--security-opt=no-new-privileges" not in plain


def test_run_as_group_alone_keeps_the_image_user() -> None:
    assert "--user=65532:5" in argv({}, securityContext={"runAsGroup": 5})


def test_bad_capability_and_localhost_seccomp_are_refused() -> None:
    with pytest.raises(Refused, match="capability"):
        argv({"securityContext": {"capabilities": {"add": ["ALL,--privileged"]}}})
    with pytest.raises(Refused, match="Localhost"):
        argv({"securityContext": {"seccompProfile": {"type": "Localhost"}}})


def test_mounts_are_the_containers_own_plus_its_termination_file() -> None:
    volumes = {"ws": "/state/v/ws", "git": "/state/v/git", "other": "/state/v/other"}
    c = {
        "volumeMounts": [
            {"name": "ws", "mountPath": "/workspace"},
            {"name": "git", "mountPath": "/var/run/git", "readOnly": True},
            {"name": "ws", "mountPath": "/cache", "subPath": "cache"},
        ],
        "terminationMessagePath": "/dev/term",
    }
    mounts = [a for a in argv(c, volumes=volumes) if a.startswith("--volume=")]
    assert mounts == [
        "--volume=/state/v/ws:/workspace:rw",
        "--volume=/state/v/git:/var/run/git:ro",
        "--volume=/state/v/ws/cache:/cache:rw",
        "--volume=/state/term/c:/dev/term:rw",
    ]  # and nothing of "other", a volume this container does not mount


def test_secret_config_map_and_downward_volumes_are_always_read_only() -> None:
    kinds = {
        "s": {"secret": {"secretName": "x"}},
        "cm": {"configMap": {"name": "x"}},
        "d": {"downwardAPI": {"items": []}},
        "p": {"projected": {"sources": []}},
        "e": {"emptyDir": {}},
    }
    volumes = [{"name": n, **src} for n, src in kinds.items()]
    c = {"volumeMounts": [{"name": n, "mountPath": f"/m/{n}"} for n in kinds]}
    mounts = [a for a in argv(c, volumes={n: f"/v/{n}" for n in kinds}, volumes_spec=volumes)]
    assert [a for a in mounts if a.startswith("--volume=/v/")] == [
        "--volume=/v/s:/m/s:ro",
        "--volume=/v/cm:/m/cm:ro",
        "--volume=/v/d:/m/d:ro",
        "--volume=/v/p:/m/p:ro",
        "--volume=/v/e:/m/e:rw",
    ]


@pytest.mark.parametrize(
    ("mount", "match"),
    [
        ({"name": "ws", "mountPath": "/a:/etc"}, "mountPath"),
        ({"name": "ws", "mountPath": "/a,ro"}, "mountPath"),
        ({"name": "ws", "mountPath": "relative"}, "mountPath"),
        ({"name": "ws", "mountPath": "/a", "subPath": "../../etc"}, "subPath"),
        ({"name": "ws", "mountPath": "/a", "subPath": "/etc"}, "subPath"),
        ({"name": "missing", "mountPath": "/a"}, "not ready"),
    ],
)
def test_mount_paths_podman_cannot_carry_safely_are_refused(
    mount: dict[str, Any], match: str
) -> None:
    with pytest.raises(Refused, match=match):
        argv({"volumeMounts": [mount]}, volumes={"ws": "/state/v/ws"})


def test_limits() -> None:
    args = argv({"resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}})
    assert "--memory=67108864" in args
    assert "--memory-swap=67108864" in args
    assert "--cpus=0.5" in args
    assert not any(a.startswith(("--memory", "--cpus")) for a in argv({}))


def test_env_values_never_reach_the_argv() -> None:
    text, multi = p.split_env({"A": "1", "TOKEN": "s3cret value", "PEM": "line1\nline2"})
    assert text == "A=1\nTOKEN=s3cret value\n"
    assert multi == {"PEM": "line1\nline2"}
    c = {"name": "c", "image": "img:1"}
    secret = p.env_secret_name("gt-0f0e-1-c", "PEM")
    args = p.create_argv(
        "podman",
        p.run_spec(
            pod(c),
            c,
            image=IMAGE,
            volumes={},
            termination_file="/t",
            env_file="/e",
            env_secrets=[(secret, "PEM")],
        ),
    )
    assert f"--secret={secret},type=env,target=PEM" in args
    assert not any("s3cret" in a or "line1" in a for a in args)
    assert not any(a.startswith("--env=") for a in args)


@pytest.mark.parametrize("name", ["LD_PRELOAD", "GCONV_PATH", "CONTAINERS_CONF", "MALLOC_X"])
def test_multi_line_values_never_travel_in_podmans_environment(name: str) -> None:
    # Any name, even one the dynamic loader or podman reads: a secret, not podman's env.
    text, multi = p.split_env({name: "/tmp/evil.so\nx"})
    assert (text, multi) == ("", {name: "/tmp/evil.so\nx"})


def test_bad_env_names_are_refused() -> None:
    with pytest.raises(Refused, match="name"):
        p.split_env({"A=B": "x"})
    assert p.split_env({"PATH": "/bin"})[0] == "PATH=/bin\n"  # one line: the env file


def test_file_urls_name_host_paths() -> None:
    values = ["file:///srv/repo.git", "x file:///a%20b/c y", "https://h/x", "file:///srv/repo.git"]
    assert p.file_url_paths(values) == ["/srv/repo.git", "/a b/c"]


def test_system_trees_and_the_sandbox_state_are_never_mounted_from_urls() -> None:
    assert p.allowed_host_path("/tmp/gt-e2e-1/origin.git", ["/tmp/sandbox"])
    for path in ("/", "/etc", "/etc/shadow", "/proc/1/root", "/usr/bin", "/var", "/tmp/sandbox"):
        assert not p.allowed_host_path(path, ["/tmp/sandbox"]), path
    assert not p.allowed_host_path("/tmp/sandbox/pods/x", ["/tmp/sandbox"])
    assert not p.allowed_host_path("/tmp", ["/tmp/sandbox"])  # holds the state


def test_run_as_non_root_as_the_kubelet_checks_it() -> None:
    c = {"name": "c", "image": "img:1"}
    strict = pod(c, securityContext={"runAsNonRoot": True})
    assert p.non_root_violation(strict, c, IMAGE) is None  # the image's USER is 65532
    root = p.non_root_violation(strict, c, p.ImageConfig(user=""))
    assert root is not None and "image will run as root" in root
    named = p.non_root_violation(strict, c, p.ImageConfig(user="polecat"))
    assert named is not None and "non-numeric user (polecat)" in named
    zero = pod(c, securityContext={"runAsNonRoot": True, "runAsUser": 0})
    broken = p.non_root_violation(zero, c, IMAGE)
    assert broken is not None and "runAsUser breaks non-root policy" in broken


def test_names_are_deterministic_and_podman_safe() -> None:
    assert p.container_name("a1b2-c3", "git-init") == "gt-a1b2-c3-git-init"
    assert p.container_name("u", "x/y z") == "gt-u-x_y_z"


def test_image_and_args_come_after_the_end_of_options() -> None:
    args = argv({"args": ["--privileged"]})
    assert args[args.index("img:1") - 1] == "--"
    assert after_image(args) == ["--privileged"]


@pytest.mark.parametrize("image", ["--privileged", "-v/:/host", ""])
def test_an_image_name_podman_could_read_as_an_option_is_refused(image: str) -> None:
    with pytest.raises(Refused, match="not a valid image reference"):
        spec({"image": image})


def test_stop_waits_longer_than_the_grace_period() -> None:
    from gastown.sandbox.containerrun import PODMAN_TIMEOUT, stop_timeout

    assert stop_timeout(3600) > 3600
    assert stop_timeout(1) >= PODMAN_TIMEOUT


def test_orphaned_containers_are_those_whose_sandbox_state_is_gone() -> None:
    out = "aaa /state/live\nbbb /state/gone\nccc \nddd relative\n"
    assert p.orphaned_containers(out, lambda d: d == "/state/live") == ["bbb"]
