"""Pure pieces of the sandbox, checked directly: expansion, patches, selectors, quantities,
image names, protobuf decoding, table ages."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from gastown.sandbox import protobuf
from gastown.sandbox.errors import ApiError
from gastown.sandbox.expand import expand
from gastown.sandbox.patch import json_patch, merge_patch, strategic_merge_patch
from gastown.sandbox.podworker import PodWorker, valid_image
from gastown.sandbox.quantity import parse_quantity
from gastown.sandbox.schema import SchemaValidator, go_regexp
from gastown.sandbox.selectors import parse_field_selector, parse_label_selector
from gastown.sandbox.table import human_age, jsonpath


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(A)-$(B)", "1-$(B)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("x$(A)y$(A)", "x1y1"),
    ],
)
def test_expand_like_kubernetes(text: str, want: str) -> None:
    assert expand(text, {"A": "1"}) == want


def test_merge_patch_removes_nulls_and_replaces_lists() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1, 2]}, {"a": {"b": None}, "l": [3]}) == {
        "a": {"c": 2},
        "l": [3],
    }


def test_json_patch_failure_is_422() -> None:
    with pytest.raises(ApiError) as info:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert info.value.code == 422


def test_strategic_merge_directives() -> None:
    pod = {
        "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]},
        "metadata": {"finalizers": ["x"], "labels": {"k": "v", "drop": "me"}},
    }
    out = strategic_merge_patch(
        pod,
        {
            "spec": {
                "containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "image": "3"}]
            },
            "metadata": {
                "finalizers": ["y"],
                "$deleteFromPrimitiveList/finalizers": ["x"],
                "labels": {"$patch": "replace", "only": "this"},
            },
        },
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "c"]
    assert out["metadata"]["finalizers"] == ["y"]
    assert out["metadata"]["labels"] == {"only": "this"}
    kept = strategic_merge_patch({"s": {"a": 1, "b": 2}}, {"s": {"$retainKeys": ["a"], "a": 3}})
    assert kept == {"s": {"a": 3}}


def test_selectors() -> None:
    sel = parse_label_selector("a in (1, 2),b!=x,!c,d")
    assert sel({"a": "1", "b": "y", "d": ""})
    assert not sel({"a": "3", "d": ""})
    assert not sel({"a": "1", "c": "", "d": ""})
    with pytest.raises(ApiError):
        parse_label_selector("a in (1")
    fields = parse_field_selector("status.phase!=Running,spec.nodeName==n")
    assert fields({"status": {"phase": "Pending"}, "spec": {"nodeName": "n"}})
    assert not fields({"status": {"phase": "Running"}, "spec": {"nodeName": "n"}})


@pytest.mark.parametrize(
    ("text", "value"), [("500m", 0.5), ("2", 2.0), ("128Mi", 128 * 2**20), ("1G", 1e9), (3, 3.0)]
)
def test_quantities(text: str | int, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("busybox", True),
        ("ghcr.io/org/polecat-agent:v1.2", True),
        ("localhost:5000/x@sha256:" + "a" * 64, True),
        ("UPPER/case", False),
        ("bad name", False),
        ("x::y", False),
        ("busybox\n", False),
    ],
)
def test_image_reference_validation(image: str, ok: bool) -> None:
    assert valid_image(image) is ok


def test_path_rewrite_only_where_a_path_starts() -> None:
    pairs = [("/workspace", "/host/ws"), ("/tmp", "/host/tmp")]
    assert PodWorker.rewrite("/workspace/a", pairs) == "/host/ws/a"
    assert PodWorker.rewrite("--dir=/workspace", pairs) == "--dir=/host/ws"
    assert PodWorker.rewrite("cd /tmp; ls '/workspace'", pairs) == "cd /host/tmp; ls '/host/ws'"
    assert PodWorker.rewrite("/workspaces", pairs) == "/workspaces"  # not a prefix path
    assert PodWorker.rewrite("a/workspace", pairs) == "a/workspace"


def test_protobuf_secret_decoding() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    meta = field(1, b"creds") + field(11, field(1, b"app") + field(2, b"x"))
    secret = field(1, meta) + field(2, field(1, b"token") + field(2, b"\x00\x01")) + field(3, b"")
    body = protobuf.MAGIC + field(1, field(1, b"v1") + field(2, b"Secret")) + field(2, secret)
    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "labels": {"app": "x"}},
        "data": {"token": base64.b64encode(b"\x00\x01").decode()},
    }


def test_human_age_and_jsonpath() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    stamp = (now - timedelta(minutes=3, seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert human_age(stamp, now) == "3m5s"
    assert human_age((now - timedelta(hours=50)).strftime("%Y-%m-%dT%H:%M:%SZ"), now) == "2d"
    assert jsonpath({"a": [{"b": 1}], "c": {"d.e": 2}}, ".a[0].b") == 1
    assert jsonpath({"c": {"d.e": 2}}, ".c['d.e']") == 2


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        (r"^[a-z]+$", "furiosa", True),
        (r"^[a-z]+$", "furiosa\n", False),  # Python's `$` alone would accept it
        (r"^a$|^b$", "b\n", False),
        (r"^[$]+$", "$$", True),  # `$` in a class is a literal
        (r"^[]$]+$", "]$", True),
        (r"^[^]$]+$", "ab", True),
        (r"^a\$$", "a$", True),  # an escaped `$` is a literal
        (r"^a\$$", "a$\n", False),
        (r"b", "abc", True),  # still a search, as JSON Schema's `pattern` is
    ],
)
def test_schema_patterns_read_dollar_as_go_does(pattern: str, value: str, ok: bool) -> None:
    assert (go_regexp(pattern).search(value) is not None) is ok


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.5, None),
        (0, "Invalid value: 0: spec.cost in body should be greater than 0"),
        (-1, "Invalid value: -1: spec.cost in body should be greater than 0"),
        (10, None),  # `maximum: 10` without exclusiveMaximum: 10 itself is allowed
        (10.5, "Invalid value: 10.5: spec.cost in body should be less than or equal to 10"),
    ],
)
def test_numeric_bounds_are_openapi_v3s(value: float, message: str | None) -> None:
    """`exclusiveMinimum: true` modifies `minimum`, as the API server reads a CRD's schema
    (JSON Schema 2020's numeric `exclusiveMinimum` is not what a CRD may say)."""
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "cost": {
                        "type": "number",
                        "minimum": 0,
                        "exclusiveMinimum": True,
                        "maximum": 10,
                    }
                },
            }
        },
    }
    _, causes = SchemaValidator(schema).admit({"spec": {"cost": value}})
    assert [c[2] for c in causes] == ([message] if message else [])
