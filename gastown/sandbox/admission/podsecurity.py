"""Pod Security admission: the baseline and restricted profiles, checked field by field.

A port of k8s.io/pod-security-admission's `policy` package (the checks of its latest
version): each check yields a reason and a detail worded exactly as upstream's, and they are
reported in upstream's order (baseline checks by ID, then restricted ones, restricted
overrides replacing the baseline checks they tighten). `violations()` is also what the chart
tests run on rendered pod templates, so "passes restricted" means the same thing there as in
the sandbox's admission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

LEVELS = ("privileged", "baseline", "restricted")
LABEL_PREFIX = "pod-security.kubernetes.io/"


@dataclass(frozen=True)
class Result:
    """One failed check: upstream's ForbiddenReason and ForbiddenDetail."""

    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


Check = Callable[[JSON, JSON], Result | None]


def _join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _containers(spec: JSON) -> Iterator[JSON]:
    """Init containers, containers, ephemeral containers: upstream's visitContainers order."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def _sc(obj: JSON) -> JSON:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _windows(spec: JSON) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def _user_namespace(spec: JSON) -> bool:
    return spec.get("hostUsers") is False


def _setters(pod_bad: bool, containers: list[str]) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(
            f"{_plural('container', 'containers', len(containers))} {_join_quote(containers)}"
        )
    return out


# ---------------------------------------------------------------------- baseline checks
_APPARMOR_TYPES = ("RuntimeDefault", "Localhost")
_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _app_armor(meta: JSON, spec: JSON) -> Result | None:
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("appArmorProfile")
    pod_bad = isinstance(pod_profile, dict) and pod_profile.get("type") not in _APPARMOR_TYPES
    if pod_bad and isinstance(pod_profile, dict):
        bad_values.add(str(pod_profile.get("type") or ""))
    containers = []
    for c in _containers(spec):
        profile = _sc(c).get("appArmorProfile")
        if isinstance(profile, dict) and profile.get("type") not in _APPARMOR_TYPES:
            containers.append(c.get("name", ""))
            bad_values.add(str(profile.get("type") or ""))
    setters = _setters(pod_bad, containers)
    annotations = []
    for k, v in sorted((meta.get("annotations") or {}).items()):
        if k.startswith(_APPARMOR_ANNOTATION) and not (
            v in ("", "runtime/default") or v.startswith("localhost/")
        ):
            annotations.append(f'{k}="{v}"')
    values = sorted(bad_values) + annotations
    if annotations:
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return Result(
        _plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {_join_quote(values)}",
    )


_DEFAULT_CAPS = frozenset(
    (
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    )
)


def _capabilities_baseline(meta: JSON, spec: JSON) -> Result | None:
    bad: list[str] = []
    caps: set[str] = set()
    for c in _containers(spec):
        added = [str(a) for a in (_sc(c).get("capabilities") or {}).get("add") or ()]
        extra = [a for a in added if a not in _DEFAULT_CAPS]
        if extra:
            bad.append(c.get("name", ""))
            caps.update(extra)
    if not bad:
        return None
    return Result(
        "non-default capabilities",
        f"{_plural('container', 'containers', len(bad))} {_join_quote(bad)} must not include "
        f"{_join_quote(sorted(caps))} in securityContext.capabilities.add",
    )


def _host_namespaces(meta: JSON, spec: JSON) -> Result | None:
    found = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return Result("host namespaces", ", ".join(found)) if found else None


def _host_path_volumes(meta: JSON, spec: JSON) -> Result | None:
    names = [v.get("name", "") for v in spec.get("volumes") or () if v.get("hostPath") is not None]
    if not names:
        return None
    return Result(
        "hostPath volumes", f"{_plural('volume', 'volumes', len(names))} {_join_quote(names)}"
    )


def _host_ports(meta: JSON, spec: JSON) -> Result | None:
    bad: list[str] = []
    ports: set[str] = set()
    for c in _containers(spec):
        used = [int(p.get("hostPort") or 0) for p in c.get("ports") or ()]
        used = [p for p in used if p]
        if used:
            bad.append(c.get("name", ""))
            ports.update(str(p) for p in used)
    if not bad:
        return None
    return Result(
        "hostPort",
        f"{_plural('container', 'containers', len(bad))} {_join_quote(bad)} "
        f"{_plural('uses', 'use', len(bad))} {_plural('hostPort', 'hostPorts', len(ports))} "
        f"{', '.join(sorted(ports))}",
    )


def _handler_hosts(handler: Any) -> list[str]:
    if not isinstance(handler, dict):
        return []
    out = []
    for kind in ("httpGet", "tcpSocket"):
        host = (handler.get(kind) or {}).get("host")
        if host:
            out.append(str(host))
    return out


def _host_probes(meta: JSON, spec: JSON) -> Result | None:
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in _containers(spec):
        found: list[str] = []
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            found += _handler_hosts(c.get(probe))
        lifecycle = c.get("lifecycle") or {}
        for hook in ("postStart", "preStop"):
            found += _handler_hosts(lifecycle.get(hook))
        if found:
            bad.add(c.get("name", ""))
            hosts.update(found)
    if not bad:
        return None
    return Result(
        "probe or lifecycle host",
        f"{_plural('container', 'containers', len(bad))} {_join_quote(sorted(bad))} "
        f"{_plural('uses', 'use', len(bad))} "
        f"{_plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{_join_quote(sorted(hosts))}",
    )


def _privileged(meta: JSON, spec: JSON) -> Result | None:
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if not bad:
        return None
    return Result(
        "privileged",
        f"{_plural('container', 'containers', len(bad))} {_join_quote(bad)} must not set "
        "securityContext.privileged=true",
    )


def _proc_mount_any(meta: JSON, spec: JSON) -> Result | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for c in _containers(spec):
        mount = _sc(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(c.get("name", ""))
            kinds.add(str(mount))
    if not bad:
        return None
    return Result(
        "procMount",
        f"{_plural('container', 'containers', len(bad))} {_join_quote(bad)} must not set "
        f"securityContext.procMount to {_join_quote(sorted(kinds))}",
    )


def _proc_mount_baseline(meta: JSON, spec: JSON) -> Result | None:
    return None if _user_namespace(spec) else _proc_mount_any(meta, spec)


_SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def _seccomp_explicit(spec: JSON) -> tuple[bool, bool, list[str], list[str], set[str]]:
    """(pod set a bad type, pod set a good type, bad containers, unset containers, bad types)."""
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("seccompProfile")
    pod_bad = pod_good = False
    if isinstance(pod_profile, dict):
        if pod_profile.get("type") in _SECCOMP_TYPES:
            pod_good = True
        else:
            pod_bad = True
            bad_values.add(str(pod_profile.get("type") or ""))
    bad, unset = [], []
    for c in _containers(spec):
        profile = _sc(c).get("seccompProfile")
        if isinstance(profile, dict):
            if profile.get("type") not in _SECCOMP_TYPES:
                bad.append(c.get("name", ""))
                bad_values.add(str(profile.get("type") or ""))
        elif not pod_good:
            unset.append(c.get("name", ""))
    return pod_bad, pod_good, bad, unset, bad_values


def _seccomp_baseline(meta: JSON, spec: JSON) -> Result | None:
    pod_bad, _, bad, _, values = _seccomp_explicit(spec)
    setters = _setters(pod_bad, bad)
    if not setters:
        return None
    return Result(
        "seccompProfile",
        f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
        f"{_join_quote(sorted(values))}",
    )


def _selinux(meta: JSON, spec: JSON) -> Result | None:
    allowed = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: JSON) -> bool:
        ok = True
        if str(opts.get("type") or "") not in allowed:
            ok = False
            bad_types.add(str(opts.get("type") or ""))
        for key in ("user", "role"):
            if opts.get(key):
                ok = False
                flags[key] = True
        return ok

    pod_opts = _sc(spec).get("seLinuxOptions")
    pod_bad = isinstance(pod_opts, dict) and not valid(pod_opts)
    bad = []
    for c in _containers(spec):
        opts = _sc(c).get("seLinuxOptions")
        if isinstance(opts, dict) and not valid(opts):
            bad.append(c.get("name", ""))
    setters = _setters(pod_bad, bad)
    if not setters:
        return None
    data = []
    if bad_types:
        data.append(f"{_plural('type', 'types', len(bad_types))} {_join_quote(sorted(bad_types))}")
    data += [f"{k} may not be set" for k in ("user", "role") if flags[k]]
    return Result(
        "seLinuxOptions",
        f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}",
    )


_SAFE_SYSCTLS = frozenset(
    (
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_notsent_lowat",
    )
)


def _sysctls(meta: JSON, spec: JSON) -> Result | None:
    bad = [
        str(s.get("name", ""))
        for s in _sc(spec).get("sysctls") or ()
        if s.get("name") not in _SAFE_SYSCTLS
    ]
    return Result("forbidden sysctls", ", ".join(bad)) if bad else None


def _windows_host_process(meta: JSON, spec: JSON) -> Result | None:
    def host_process(sc: JSON) -> bool:
        return (sc.get("windowsOptions") or {}).get("hostProcess") is True

    bad = [c.get("name", "") for c in _containers(spec) if host_process(_sc(c))]
    setters = _setters(host_process(_sc(spec)), bad)
    if not setters:
        return None
    return Result(
        "hostProcess",
        f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true",
    )


# ---------------------------------------------------------------------- restricted checks
def _allow_privilege_escalation(meta: JSON, spec: JSON) -> Result | None:
    if _windows(spec):
        return None
    bad = [
        c.get("name", "")
        for c in _containers(spec)
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    return Result(
        "allowPrivilegeEscalation != false",
        f"{_plural('container', 'containers', len(bad))} {_join_quote(bad)} must set "
        "securityContext.allowPrivilegeEscalation=false",
    )


def _capabilities_restricted(meta: JSON, spec: JSON) -> Result | None:
    if _windows(spec):
        return None
    missing_drop, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            missing_drop.append(c.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or ()):
            missing_drop.append(c.get("name", ""))
        extra = [str(a) for a in capabilities.get("add") or () if a != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            caps.update(extra)
    details = []
    if missing_drop:
        details.append(
            f"{_plural('container', 'containers', len(missing_drop))} "
            f'{_join_quote(missing_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{_plural('container', 'containers', len(adding))} {_join_quote(adding)} must not "
            f"include {_join_quote(sorted(caps))} in securityContext.capabilities.add"
        )
    return Result("unrestricted capabilities", "; ".join(details)) if details else None


def _proc_mount_restricted(meta: JSON, spec: JSON) -> Result | None:
    return _proc_mount_any(meta, spec)


_ALLOWED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
_RESTRICTED_VOLUMES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def _restricted_volumes(meta: JSON, spec: JSON) -> Result | None:
    bad: list[str] = []
    kinds: set[str] = set()
    for v in spec.get("volumes") or ():
        if any(v.get(k) is not None for k in _ALLOWED_VOLUMES):
            continue
        bad.append(v.get("name", ""))
        kinds.add(next((k for k in _RESTRICTED_VOLUMES if v.get(k) is not None), "unknown"))
    if not bad:
        return None
    return Result(
        "restricted volume types",
        f"{_plural('volume', 'volumes', len(bad))} {_join_quote(bad)} "
        f"{_plural('uses', 'use', len(bad))} "
        f"{_plural('restricted volume type', 'restricted volume types', len(kinds))} "
        f"{_join_quote(sorted(kinds))}",
    )


def _run_as_non_root(meta: JSON, spec: JSON) -> Result | None:
    if _user_namespace(spec):
        return None
    pod_value = _sc(spec).get("runAsNonRoot")
    pod_bad, pod_ok = pod_value is False, pod_value is True
    explicit, implicit = [], []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(c.get("name", ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    setters = _setters(pod_bad, explicit)
    if setters:
        return Result(
            "runAsNonRoot != true",
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false",
        )
    if implicit:
        return Result(
            "runAsNonRoot != true",
            f"pod or {_plural('container', 'containers', len(implicit))} "
            f"{_join_quote(implicit)} must set securityContext.runAsNonRoot=true",
        )
    return None


def _run_as_user(meta: JSON, spec: JSON) -> Result | None:
    if _user_namespace(spec):
        return None
    bad = [c.get("name", "") for c in _containers(spec) if _is_zero(_sc(c).get("runAsUser"))]
    setters = _setters(_is_zero(_sc(spec).get("runAsUser")), bad)
    if not setters:
        return None
    return Result("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")


def _is_zero(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def _seccomp_restricted(meta: JSON, spec: JSON) -> Result | None:
    if _windows(spec):
        return None
    pod_bad, _, bad, unset, values = _seccomp_explicit(spec)
    setters = _setters(pod_bad, bad)
    if setters:
        return Result(
            "seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{_join_quote(sorted(values))}",
        )
    if unset:
        return Result(
            "seccompProfile",
            f"pod or {_plural('container', 'containers', len(unset))} {_join_quote(unset)} "
            'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        )
    return None


# Check IDs as upstream registers them: baseline first, restricted after, each sorted by ID.
_BASELINE: tuple[tuple[str, Check], ...] = (
    ("appArmorProfile", _app_armor),
    ("capabilities_baseline", _capabilities_baseline),
    ("hostNamespaces", _host_namespaces),
    ("hostPathVolumes", _host_path_volumes),
    ("hostPorts", _host_ports),
    ("hostProbesAndHostLifecycle", _host_probes),
    ("privileged", _privileged),
    ("procMount", _proc_mount_baseline),
    ("seLinuxOptions", _selinux),
    ("seccompProfile_baseline", _seccomp_baseline),
    ("sysctls", _sysctls),
    ("windowsHostProcess", _windows_host_process),
)
_RESTRICTED: tuple[tuple[str, Check, tuple[str, ...]], ...] = (
    ("allowPrivilegeEscalation", _allow_privilege_escalation, ()),
    ("capabilities_restricted", _capabilities_restricted, ("capabilities_baseline",)),
    ("procMount_restricted", _proc_mount_restricted, ("procMount",)),
    ("restrictedVolumes", _restricted_volumes, ("hostPathVolumes",)),
    ("runAsNonRoot", _run_as_non_root, ()),
    ("runAsUser", _run_as_user, ()),
    ("seccompProfile_restricted", _seccomp_restricted, ("seccompProfile_baseline",)),
)


def _checks(level: str) -> list[Check]:
    if level == "privileged":
        return []
    if level == "baseline":
        return [fn for _, fn in _BASELINE]
    overridden = {o for _, _, overrides in _RESTRICTED for o in overrides}
    by_id: dict[str, Check] = {i: fn for i, fn in _BASELINE if i not in overridden}
    by_id.update({i: fn for i, fn, _ in _RESTRICTED})
    baseline_ids = sorted(i for i, _ in _BASELINE if i in by_id)
    restricted_ids = sorted(i for i, _, _ in _RESTRICTED)
    return [by_id[i] for i in baseline_ids + restricted_ids]


def results(pod: JSON, level: str) -> list[Result]:
    """The failed checks of `level` for a pod (or a pod template: metadata + spec)."""
    name = level.split(":", 1)[0]
    if name not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}: use one of {', '.join(LEVELS)}")
    meta = pod.get("metadata") if isinstance(pod.get("metadata"), dict) else {}
    spec = pod.get("spec") if isinstance(pod.get("spec"), dict) else {}
    out = []
    for check in _checks(name):
        result = check(meta or {}, spec or {})
        if result is not None:
            out.append(result)
    return out


def violations(pod: JSON, level: str) -> list[str]:
    """Upstream's `reason (detail)` strings, in its order; empty when the pod passes."""
    return [str(r) for r in results(pod, level)]


# ---------------------------------------------------------------------- namespace policy
@dataclass(frozen=True)
class LevelVersion:
    level: str
    version: str = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion


_PRIVILEGED = LevelVersion("privileged")


def _version(value: str) -> str:
    if value == "latest":
        return value
    if value.startswith("v1.") and value[3:].isdigit() and (value[3:] == "0" or value[3] != "0"):
        return value
    return "latest"


def policy(labels: dict[str, str] | None) -> Policy:
    """The namespace's policy from its labels (api.PolicyToEvaluate, privileged default)."""
    labels = labels or {}
    enforce, audit, warn = _PRIVILEGED, _PRIVILEGED, _PRIVILEGED
    has_enforce = has_warn = has_warn_version = False

    def level_of(mode: str, fail_open: bool) -> str | None:
        value = labels.get(LABEL_PREFIX + mode)
        if value is None:
            return None
        if value in LEVELS:
            return value
        return "privileged" if fail_open else "restricted"

    if (lvl := level_of("enforce", False)) is not None:
        enforce = LevelVersion(lvl, enforce.version)
        has_enforce = labels[LABEL_PREFIX + "enforce"] in LEVELS
    if (v := labels.get(LABEL_PREFIX + "enforce-version")) is not None:
        enforce = LevelVersion(enforce.level, _version(v))
    if (lvl := level_of("audit", True)) is not None:
        audit = LevelVersion(lvl, audit.version)
    if (v := labels.get(LABEL_PREFIX + "audit-version")) is not None:
        audit = LevelVersion(audit.level, _version(v))
    if (lvl := level_of("warn", True)) is not None:
        has_warn = True
        warn = LevelVersion(lvl, warn.version)
    if (v := labels.get(LABEL_PREFIX + "warn-version")) is not None:
        has_warn_version = True
        warn = LevelVersion(warn.level, _version(v))
    if not has_warn and has_enforce and LEVELS.index(enforce.level) > LEVELS.index(warn.level):
        warn = LevelVersion(enforce.level, warn.version if has_warn_version else enforce.version)
    return Policy(enforce, audit, warn)


@dataclass(frozen=True)
class Decision:
    """What the plugin answers: a denial message (None: allowed) and warnings."""

    denied: str | None
    warnings: tuple[str, ...] = ()


def _detail(found: list[Result]) -> str:
    return ", ".join(str(r) for r in found)


def evaluate(pod: JSON, labels: dict[str, str] | None) -> Decision:
    """Admission.EvaluatePod: enforce denies, warn (only when allowed) warns."""
    pol = policy(labels)
    cache: dict[str, list[Result]] = {}

    def run(lv: LevelVersion) -> list[Result]:
        if lv.level not in cache:
            cache[lv.level] = results(pod, lv.level)
        return cache[lv.level]

    enforced = run(pol.enforce)
    if enforced:
        return Decision(f'violates PodSecurity "{pol.enforce}": {_detail(enforced)}')
    warned = run(pol.warn)
    if warned:
        return Decision(None, (f'would violate PodSecurity "{pol.warn}": {_detail(warned)}',))
    return Decision(None)


def significant_update(old: JSON, new: JSON) -> bool:
    """isSignificantPodUpdate: only container counts, images and new ephemeral containers."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    for key in ("containers", "initContainers"):
        before, after = old_spec.get(key) or [], new_spec.get(key) or []
        if len(before) != len(after):
            return True
        if any(a.get("image") != b.get("image") for a, b in zip(before, after, strict=True)):
            return True
    old_ephemeral = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or ()}
    for c in new_spec.get("ephemeralContainers") or ():
        previous = old_ephemeral.get(c.get("name"))
        if previous is None or previous.get("image") != c.get("image"):
            return True
    return False
