"""ResourceQuota and LimitRange for pods, as the ResourceQuota and LimitRanger plugins do.

Quantities are exact (`Fraction`) and printed the way apimachinery prints them (`500m`, `2`,
`512Mi`), since both plugins put them in their refusals.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

JSON = dict[str, Any]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: dict[str, Fraction] = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+)?([a-zA-Z]*)$")
COMPUTE = ("cpu", "memory")


class Quantity:
    """An exact resource quantity that remembers whether it was written in binary units."""

    def __init__(self, value: Fraction, binary: bool = False) -> None:
        self.value = value
        self.binary = binary

    @classmethod
    def parse(cls, text: Any) -> Quantity:
        if isinstance(text, (int, float)):
            return cls(Fraction(str(text)))
        match = _QUANTITY.match(str(text).strip())
        if not match:
            raise ValueError(
                f"quantities must match the regular expression "
                f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got {text!r})"
            )
        number, exponent, suffix = match.groups()
        value = Fraction(number)
        if exponent:
            value *= Fraction(10) ** int(exponent[1:])
        if suffix in _BINARY:
            return cls(value * _BINARY[suffix], binary=True)
        if suffix in _DECIMAL:
            return cls(value * _DECIMAL[suffix])
        raise ValueError(f"unknown quantity suffix {suffix!r} in {text!r}")

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.binary or other.binary)

    def __str__(self) -> str:
        v = self.value
        if v == 0:
            return "0"
        if self.binary and v.denominator == 1:
            for suffix, size in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
                if v % size == 0:
                    return f"{v // size}{suffix}"
            return str(v.numerator)
        if v.denominator == 1:
            for suffix in ("E", "P", "T", "G", "M", "k"):
                step = _DECIMAL[suffix]
                if v % step == 0 and v >= step:
                    return f"{v // step}{suffix}"
            return str(v.numerator)
        for suffix in ("m", "u", "n"):
            scaled = v / _DECIMAL[suffix]
            if scaled.denominator == 1:
                return f"{scaled.numerator}{suffix}"
        return f"{(v / _DECIMAL['n']).__ceil__()}n"


def _zero() -> Quantity:
    return Quantity(Fraction(0))


def _resources(container: JSON, key: str) -> dict[str, Quantity]:
    """A container's requests or limits; requests default to limits (SetDefaults_Pod)."""
    resources = container.get("resources") or {}
    raw = dict(resources.get(key) or {})
    if key == "requests":
        raw = {**(resources.get("limits") or {}), **raw}
    return {k: Quantity.parse(v) for k, v in raw.items()}


# ---------------------------------------------------------------------- LimitRange
def default_limit_range(limit_range: JSON) -> None:
    """SetDefaults_LimitRangeItem: a Container item's default is its max, defaultRequest its
    default (then its min)."""
    for item in (limit_range.get("spec") or {}).get("limits") or ():
        if item.get("type") != "Container":
            continue
        default = item.setdefault("default", {}) if item.get("max") else item.get("default")
        if item.get("max"):
            for k, v in item["max"].items():
                default.setdefault(k, v)
        request = item.setdefault("defaultRequest", {})
        for source in ("default", "min"):
            for k, v in (item.get(source) or {}).items():
                request.setdefault(k, v)
        for key in ("default", "defaultRequest"):
            if not item.get(key):
                item.pop(key, None)


def apply_limit_range_defaults(pod: JSON, ranges: list[JSON]) -> None:
    """PodMutateLimitFunc: fill missing requests/limits; annotate what was set."""
    defaults: dict[str, dict[str, Any]] = {"requests": {}, "limits": {}}
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or ():
            if item.get("type") == "Container":
                defaults["limits"].update(item.get("default") or {})
                defaults["requests"].update(item.get("defaultRequest") or {})
    if not defaults["limits"] and not defaults["requests"]:
        return
    notes: list[str] = []
    spec = pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or ():
            resources = c.setdefault("resources", {})
            for kind, word in (("requests", "request"), ("limits", "limit")):
                current = resources.get(kind) or {}
                added = [k for k in defaults[kind] if k not in current]
                if kind == "requests":
                    # A limit without a request already defaulted the request to the limit.
                    added = [k for k in added if k not in (resources.get("limits") or {})]
                if added:
                    resources[kind] = {**current, **{k: defaults[kind][k] for k in added}}
                    notes.append(
                        f"{', '.join(sorted(added))} {word} for "
                        f"{'init container' if key == 'initContainers' else 'container'} "
                        f"{c.get('name', '')}"
                    )
    if notes:
        meta = pod.setdefault("metadata", {})
        meta.setdefault("annotations", {})["kubernetes.io/limit-ranger"] = (
            "LimitRanger plugin set: " + "; ".join(notes)
        )


def limit_range_errors(pod: JSON, ranges: list[JSON]) -> list[str]:
    """PodValidateLimitFunc for Container items: min, max, maxLimitRequestRatio."""
    errs: list[str] = []
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    for lr in ranges:
        for item in (lr.get("spec") or {}).get("limits") or ():
            if item.get("type") != "Container":
                continue
            for c in containers:
                req, lim = _resources(c, "requests"), _resources(c, "limits")
                for k, v in (item.get("min") or {}).items():
                    enforced = Quantity.parse(v)
                    if k not in req:
                        errs.append(
                            f"minimum {k} usage per Container is {enforced}. "
                            "No request is specified"
                        )
                    elif req[k].value < enforced.value:
                        errs.append(
                            f"minimum {k} usage per Container is {enforced}, but "
                            f"request is {req[k]}"
                        )
                    elif k in lim and lim[k].value < enforced.value:
                        errs.append(
                            f"minimum {k} usage per Container is {enforced}, but limit is {lim[k]}"
                        )
                for k, v in (item.get("max") or {}).items():
                    enforced = Quantity.parse(v)
                    if k not in lim:
                        errs.append(
                            f"maximum {k} usage per Container is {enforced}. No limit is specified"
                        )
                    elif lim[k].value > enforced.value:
                        errs.append(
                            f"maximum {k} usage per Container is {enforced}, but limit is {lim[k]}"
                        )
                    elif k in req and req[k].value > enforced.value:
                        errs.append(
                            f"maximum {k} usage per Container is {enforced}, but "
                            f"request is {req[k]}"
                        )
                for k, v in (item.get("maxLimitRequestRatio") or {}).items():
                    enforced = Quantity.parse(v)
                    if not req.get(k) or req[k].value == 0:
                        errs.append(
                            f"{k} max limit to request ratio per Container is "
                            f"{enforced}, but no request is specified or request is 0"
                        )
                    elif not lim.get(k) or lim[k].value == 0:
                        errs.append(
                            f"{k} max limit to request ratio per Container is "
                            f"{enforced}, but no limit is specified or limit is 0"
                        )
                    elif lim[k].value / req[k].value > enforced.value:
                        ratio = float(lim[k].value / req[k].value)
                        errs.append(
                            f"{k} max limit to request ratio per Container is "
                            f"{enforced}, but provided ratio is {ratio:f}"
                        )
    return errs


# ---------------------------------------------------------------------- ResourceQuota
_VALIDATION = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def _container_usage(c: JSON) -> dict[str, Quantity]:
    """podComputeUsageHelper for one container."""
    out: dict[str, Quantity] = {}
    for k, q in _resources(c, "requests").items():
        if k in COMPUTE:
            out[k] = q
            out[f"requests.{k}"] = q
    for k, q in _resources(c, "limits").items():
        if k in COMPUTE:
            out[f"limits.{k}"] = q
    return out


def _sum(into: dict[str, Quantity], add: dict[str, Quantity]) -> None:
    for k, q in add.items():
        into[k] = into[k] + q if k in into else q


def pod_usage(pod: JSON) -> dict[str, Quantity]:
    """What one pod charges: pods and count/pods, and its compute requests and limits
    (containers summed, the largest init container if that is more)."""
    spec = pod.get("spec") or {}
    usage: dict[str, Quantity] = {}
    for c in spec.get("containers") or ():
        _sum(usage, _container_usage(c))
    for c in spec.get("initContainers") or ():
        for k, q in _container_usage(c).items():
            if k not in usage or q.value > usage[k].value:
                usage[k] = q
    usage["pods"] = Quantity(Fraction(1))
    usage["count/pods"] = Quantity(Fraction(1))
    return usage


def counts(pod: JSON) -> bool:
    """Terminal pods and pods being deleted are not charged (QuotaV1Pod)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def namespace_usage(pods: list[JSON], hard: dict[str, Any]) -> dict[str, Quantity]:
    used = {k: _zero() for k in hard}
    for pod in pods:
        if counts(pod):
            _sum(used, {k: v for k, v in pod_usage(pod).items() if k in hard})
    return used


def _pretty(items: dict[str, Quantity]) -> str:
    return ",".join(f"{k}={items[k]}" for k in sorted(items))


def quota_error(pod: JSON, quota: JSON, used: dict[str, Quantity]) -> str | None:
    """Constraints (`must specify`) then the hard limits, as the quota evaluator words them."""
    hard_raw = (quota.get("spec") or {}).get("hard") or {}
    name = quota["metadata"]["name"]
    required = [k for k in hard_raw if k in _VALIDATION]
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ()):
        present = _container_usage(c)
        for k in required:
            if k not in present:
                missing.setdefault(k, set()).add(c.get("name", ""))
    if missing:
        text = "; ".join(f"{k} for: {','.join(sorted(missing[k]))}" for k in sorted(missing))
        return f"failed quota: {name}: must specify {text}"
    hard = {k: Quantity.parse(v) for k, v in hard_raw.items()}
    requested = {k: v for k, v in pod_usage(pod).items() if k in hard and v.value != 0}
    exceeded = [k for k, q in requested.items() if (used.get(k, _zero()) + q).value > hard[k].value]
    if not exceeded:
        return None
    return (
        f"exceeded quota: {name}, requested: {_pretty({k: requested[k] for k in exceeded})}, "
        f"used: {_pretty({k: used.get(k, _zero()) for k in exceeded})}, "
        f"limited: {_pretty({k: hard[k] for k in exceeded})}"
    )


def status_used(used: dict[str, Quantity]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(used.items())}
