"""Read a Prometheus text exposition (what /metrics serves) into samples, and the series
names a PromQL expression refers to. Small on purpose: prometheus_client is not a dependency,
and the SDK's exporter writes the plain text format (no exemplars, no timestamps)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


def _unescape(value: str) -> str:
    return value.replace(r"\"", '"').replace(r"\n", "\n").replace("\\\\", "\\")


def parse(text: str) -> list[Sample]:
    samples = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not a sample line: {line!r}")
        name, labels, value = match.groups()
        found = {k: _unescape(v) for k, v in _LABEL.findall(labels or "")}
        samples.append(Sample(name, found, float(value)))
    return samples


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def value(samples: Iterable[Sample], name: str, **labels: str) -> float | None:
    """The one sample of `name` with these labels; None when there is none."""
    found = [
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    if len(found) > 1:
        raise AssertionError(f"{len(found)} samples of {name} match {labels}")
    return found[0] if found else None


def is_nan(x: float | None) -> bool:
    return x is not None and math.isnan(x)


# PromQL: words that are not series (functions, keywords, aggregation modifiers, durations).
_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "bool", "offset", "rate", "irate", "increase", "delta", "idelta",
    "deriv", "histogram_quantile", "time", "vector", "scalar", "abs", "clamp_min", "clamp_max",
    "clamp", "label_replace", "label_join", "sort", "sort_desc", "absent", "absent_over_time",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "changes", "resets", "round", "ceil", "floor", "timestamp", "le", "inf",
    "nan", "day_of_week", "hour", "predict_linear",
}  # fmt: skip


def series_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers outside label matchers, strings and
    range/grouping brackets that are not PromQL's own words."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    stripped = re.sub(r"\{[^}]*\}", "", stripped)  # label matchers
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # ranges
    stripped = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", stripped
    )
    names = set(re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w(])", stripped))
    # An identifier followed by "(" is a function; the lookahead above leaves it out.
    return {n for n in names if n.lower() not in _PROMQL_WORDS and not n.startswith("$")}
