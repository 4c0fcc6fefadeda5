"""The HTTP front of the sandbox: routing, content negotiation, watches, logs, faults.

Paths follow the apiserver's REST layout; every error is a `Status`. Watches stream one JSON
event per line (chunked), exactly what client-go, the Python client and kopf parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from gastown.sandbox import discovery, errors, layout, openapi, patch, protobuf, table
from gastown.sandbox.errors import ApiError
from gastown.sandbox.faults import Faults
from gastown.sandbox.resources import ResourceType
from gastown.sandbox.store import Store

JSON = dict[str, Any]
log = logging.getLogger(__name__)

AdminAction = Callable[[JSON], Awaitable[JSON]]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(obj), status=status, content_type="application/json")


def _error(exc: ApiError) -> web.Response:
    resp = _json(exc.status(), exc.code)
    for k, v in exc.headers.items():
        resp.headers[k] = v
    return resp


def _truthy(value: str | None) -> bool:
    return value in ("true", "1", "True")


@dataclass
class Target:
    """A parsed resource URL."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def resource(self) -> str:
        return f"{self.rt.plural}/{self.subresource}" if self.subresource else self.rt.plural


class ApiServer:
    """aiohttp handlers over a Store, with faults and optional bearer-token auth."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        token: str | None,
        state_dir: Path,
        *,
        bookmark_interval: float = 60.0,
        default_watch_timeout: float = 1800.0,
    ) -> None:
        self.store = store
        self.faults = faults
        self.token = token
        self.state_dir = state_dir
        self.bookmark_interval = bookmark_interval
        self.default_watch_timeout = default_watch_timeout
        self.address = "127.0.0.1:0"
        self.resumed = asyncio.Event()
        self.resumed.set()
        self.admin_actions: dict[str, AdminAction] = {}
        self.stopping = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    # ------------------------------------------------------------------ pause
    def pause(self) -> None:
        self.faults.paused = True
        self.resumed.clear()

    def resume(self) -> None:
        self.faults.paused = False
        self.resumed.set()

    # ------------------------------------------------------------------ entry
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        try:
            if path in ("/healthz", "/livez", "/readyz"):
                return web.Response(text="ok")
            self._authenticate(request)
            if path.startswith("/_sandbox/"):
                return await self._admin(request, path)
            if not self.resumed.is_set():
                await self.resumed.wait()
            return await self._route(request, path)
        except ApiError as exc:
            return _error(exc)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            return _error(errors.bad_request(f"couldn't decode the request body: {exc}"))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as exc:
            log.exception("sandbox: internal error on %s %s", request.method, path)
            return _error(ApiError(500, "InternalError", f"Internal error occurred: {exc}"))

    def _authenticate(self, request: web.Request) -> None:
        if self.token is None:
            return
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise errors.unauthorized()

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return _json(discovery.version_info())
        if path == "/api":
            return _json(discovery.core_versions(self.address))
        if path == "/apis":
            return _json(discovery.group_list(self.store.registry))
        if parts and parts[0] == "openapi":
            return self._openapi(request, parts[1:])
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 2:
            if len(parts) == 2:
                doc = discovery.group(self.store.registry, parts[1])
                if doc is None:
                    raise errors.page_not_found()
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.page_not_found()
        if not rest:
            doc = discovery.resource_list(self.store.registry, group, version)
            if doc is None:
                raise errors.page_not_found()
            return _json(doc)
        target = self._target(group, version, rest)
        return await self._dispatch(request, target)

    def _target(self, group: str, version: str, rest: list[str]) -> Target:
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        rt = self.store.registry.get(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise errors.page_not_found()
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in rt.subresources:
            raise errors.page_not_found()
        if namespace is not None and not rt.namespaced:
            raise errors.page_not_found()
        return Target(rt, namespace, name, sub)

    # ------------------------------------------------------------------ verbs
    async def _dispatch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        method = request.method
        if method == "GET":
            verb = "get" if t.name else ("watch" if _truthy(q.get("watch")) else "list")
        else:
            verb = {
                "POST": "create",
                "PUT": "update",
                "PATCH": "patch",
                "DELETE": "delete" if t.name else "deletecollection",
            }.get(method, "")
        if not verb:
            raise errors.method_not_allowed()
        await self._faults(verb, t)
        if t.name is None and t.rt.namespaced is False and t.namespace:
            raise errors.page_not_found()
        dry = q.get("dryRun") == "All"
        strict = q.get("fieldValidation") == "Strict"
        store, rt = self.store, t.rt
        if verb == "get":
            if t.subresource == "log":
                return await self._logs(request, t)
            obj = store.present(rt, store.get(rt, t.namespace, t.name or ""))
            return self._respond(request, rt, [obj], obj, str(store.rv), single=True)
        if verb == "list":
            items, rv, token = store.list(
                rt,
                t.namespace,
                q.get("labelSelector"),
                q.get("fieldSelector"),
                limit=int(q["limit"]) if q.get("limit") else None,
                continue_token=q.get("continue"),
            )
            items = [store.present(rt, o) for o in items]
            meta: JSON = {"resourceVersion": str(rv)}
            if token:
                meta["continue"] = token
            body = {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": items,
            }
            return self._respond(request, rt, items, body, str(rv))
        if verb == "watch":
            return await self._watch(request, t)
        if verb == "create":
            if t.name is not None and t.subresource is None:
                raise errors.method_not_allowed()
            body = await self._body(request)
            if rt.key == ("authorization.k8s.io", "selfsubjectaccessreviews"):
                body["status"] = {
                    "allowed": True,
                    "reason": "gastown sandbox: one token may do everything",
                }
                return _json(store.present(rt, body), 201)
            obj = store.create(rt, t.namespace, body, strict=strict, dry_run=dry)
            return _json(store.present(rt, obj), 201)
        if verb == "update":
            body = await self._body(request)
            obj = store.update(
                rt, t.namespace, t.name or "", body, t.subresource, strict=strict, dry_run=dry
            )
            return _json(store.present(rt, obj))
        if verb == "patch":
            return _json(store.present(rt, await self._patch(request, t, strict, dry)))
        if verb == "delete":
            options = await self._body(request, optional=True)
            if q.get("gracePeriodSeconds") is not None:
                options["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            if q.get("propagationPolicy"):
                options["propagationPolicy"] = q["propagationPolicy"]
            obj = store.delete(rt, t.namespace, t.name or "", options, dry_run=dry)
            return _json(store.present(rt, obj))
        # deletecollection
        options = await self._body(request, optional=True)
        items, rv, _ = store.list(rt, t.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        deleted = []
        for obj in items:
            meta = obj["metadata"]
            with contextlib.suppress(ApiError):
                deleted.append(
                    store.delete(rt, meta.get("namespace"), meta["name"], options, dry_run=dry)
                )
        return _json(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(store.rv)},
                "items": deleted,
            }
        )

    async def _faults(self, verb: str, t: Target) -> None:
        decision = self.faults.decide(verb, t.resource, t.namespace)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.code is None:
            return
        name = t.name or ""
        if decision.code == 429:
            raise ApiError(
                429,
                "TooManyRequests",
                "the server has received too many requests "
                "and has asked us to try again later (injected)",
                {"retryAfterSeconds": decision.retry_after},
                {"Retry-After": str(decision.retry_after)},
            )
        if decision.code == 409:
            raise errors.conflict(t.rt, name, "the object has been modified (injected)")
        raise ApiError(
            decision.code,
            "InternalError",
            f"Internal error occurred: injected fault ({verb} {t.resource})",
        )

    async def _body(self, request: web.Request, optional: bool = False) -> JSON:
        raw = await request.read()
        if not raw:
            if optional:
                return {}
            raise errors.bad_request("the request body is empty")
        ctype = request.headers.get("Content-Type", "")
        if "protobuf" in ctype:
            return protobuf.decode(raw)
        if "cbor" in ctype:
            raise errors.unsupported_media_type(ctype)
        data = yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw)
        if not isinstance(data, (dict, list)):
            raise errors.bad_request("the request body must be a JSON object")
        return data if isinstance(data, dict) else {"$list": data}

    async def _patch(self, request: web.Request, t: Target, strict: bool, dry: bool) -> JSON:
        store, rt = self.store, t.rt
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        raw = await request.read()
        body = yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw or b"{}")
        name = t.name or ""
        if ctype == "application/apply-patch+yaml":
            # Server-side apply (patch.server_side_apply says what is real and what simpler).
            found = store.find(rt, t.namespace, name)
            current = store.present(rt, found) if found is not None else None
            result = patch.server_side_apply(
                current,
                body,
                request.query.get("fieldManager", ""),
                force=request.query.get("force", "") == "true",
                now=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            if current is None:
                return store.create(rt, t.namespace, result, strict=strict, dry_run=dry)
        else:
            current = store.present(rt, store.get(rt, t.namespace, name))
            if ctype == "application/merge-patch+json":
                result = patch.merge_patch(current, body)
            elif ctype == "application/json-patch+json":
                result = patch.json_patch(current, body)
            elif ctype == "application/strategic-merge-patch+json":
                if rt.custom:
                    raise errors.unsupported_media_type(ctype)
                result = patch.strategic_merge_patch(current, body)
            else:
                raise errors.unsupported_media_type(ctype)
        if not isinstance(result, dict):
            raise errors.bad_request("patch must produce an object")
        result.setdefault("metadata", {})
        if not result["metadata"].get("resourceVersion"):
            result["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return store.update(
            rt,
            t.namespace,
            name,
            result,
            t.subresource,
            strict=strict,
            require_rv=False,
            dry_run=dry,
        )

    # ------------------------------------------------------------------ rendering
    @staticmethod
    def _wants_table(request: web.Request) -> bool:
        accept = request.headers.get("Accept", "")
        return "as=Table" in accept

    def _respond(
        self,
        request: web.Request,
        rt: ResourceType,
        items: list[JSON],
        body: JSON,
        rv: str,
        *,
        single: bool = False,
    ) -> web.Response:
        if self._wants_table(request):
            include = request.query.get("includeObject", "Metadata")
            tbl = table.to_table(rt, items, rv, include)
            if not single and body.get("metadata", {}).get("continue"):
                tbl["metadata"]["continue"] = body["metadata"]["continue"]
            return _json(tbl)
        return _json(body)

    # ------------------------------------------------------------------ watch
    async def _watch(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        store, rt = self.store, t.rt
        rv = q.get("resourceVersion")
        as_table = self._wants_table(request)
        include = q.get("includeObject", "Metadata")
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        timeout = (
            float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else (self.default_watch_timeout)
        )
        cut_seconds, cut_events = self.faults.watch_limits(rt.plural)
        if cut_seconds is not None:
            timeout = min(timeout, cut_seconds)
        resp = web.StreamResponse(
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        )
        await resp.prepare(request)
        field_sel = q.get("fieldSelector")
        if field_sel and t.name:
            field_sel = f"{field_sel},metadata.name={t.name}"
        elif t.name:
            field_sel = f"metadata.name={t.name}"
        expired = rv not in (None, "", "0") and self.faults.take_expiry()
        try:
            if expired:
                raise errors.gone(f"too old resource version: {rv} (injected)")
            watcher = store.watch(rt, t.namespace, rv, q.get("labelSelector"), field_sel)
        except ApiError as exc:
            await resp.write(_dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
            await resp.write_eof()
            return resp
        sent = 0
        headers_sent = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            while True:
                now = loop.time()
                if now >= deadline or self.stopping.is_set():
                    break
                wait = deadline - now
                if bookmarks:
                    wait = min(wait, max(next_bookmark - now, 0))
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        next_bookmark = loop.time() + self.bookmark_interval
                        mark = {
                            "kind": rt.kind,
                            "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": str(store.rv)},
                        }
                        await resp.write(_dumps({"type": "BOOKMARK", "object": mark}) + b"\n")
                    continue
                if item is None:
                    break
                if not self.resumed.is_set():
                    await self.resumed.wait()
                kind, obj = item
                obj = store.present(rt, obj)
                if as_table:
                    out = table.to_table(
                        rt,
                        [obj],
                        obj["metadata"]["resourceVersion"],
                        include,
                        headers=not headers_sent,
                    )
                    headers_sent = True
                else:
                    out = obj
                await resp.write(_dumps({"type": kind, "object": out}) + b"\n")
                sent += 1
                if cut_events is not None and sent >= cut_events:
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            store.unwatch(watcher)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    # ------------------------------------------------------------------ logs
    async def _logs(self, request: web.Request, t: Target) -> web.StreamResponse:
        q = request.query
        rt = t.rt
        pod = self.store.get(rt, t.namespace, t.name or "")
        containers = [c["name"] for c in pod["spec"].get("containers", [])]
        inits = [c["name"] for c in pod["spec"].get("initContainers", []) or []]
        container = q.get("container")
        if not container:
            if len(containers) != 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {t.name}, choose one of: "
                    f"[{' '.join(containers)}] or one of the init containers: "
                    f"[{' '.join(inits)}]"
                )
            container = containers[0]
        if container not in containers + inits:
            raise errors.bad_request(f"container {container} is not valid for pod {t.name}")
        path = layout.log_file(self.state_dir, pod, container)
        if _truthy(q.get("previous")):
            path = path.with_suffix(".previous")
            if not path.exists():
                raise errors.bad_request(
                    f'previous terminated container "{container}" in pod "{t.name}" not found'
                )
        if not path.exists():
            reason = self._waiting_reason(pod, container) or "ContainerCreating"
            raise errors.bad_request(
                f'container "{container}" in pod "{t.name}" is waiting to start: {reason}'
            )
        data = path.read_bytes()
        tail = q.get("tailLines")
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(tail) :]) if int(tail) > 0 else b""
        limit = q.get("limitBytes")
        if limit is not None:
            data = data[: int(limit)]
        if not _truthy(q.get("follow")):
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(
            headers={"Content-Type": "text/plain", "Transfer-Encoding": "chunked"}
        )
        await resp.prepare(request)
        await resp.write(data)
        offset = path.stat().st_size
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                while not self.stopping.is_set():
                    chunk = fh.read(65536)
                    if chunk:
                        await resp.write(chunk)
                        continue
                    current = self.store.find(rt, t.namespace, t.name or "")
                    if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
                        break
                    if self._terminated(current, container):
                        rest = fh.read()
                        if rest:
                            await resp.write(rest)
                        break
                    await asyncio.sleep(0.05)  # tail -f: poll the file for new bytes
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    @staticmethod
    def _status_of(pod: JSON, container: str) -> JSON:
        status = pod.get("status") or {}
        for cs in (status.get("containerStatuses") or []) + (
            status.get("initContainerStatuses") or []
        ):
            if cs.get("name") == container:
                return dict(cs)
        return {}

    def _waiting_reason(self, pod: JSON, container: str) -> str | None:
        state = self._status_of(pod, container).get("state") or {}
        return (state.get("waiting") or {}).get("reason")

    def _terminated(self, pod: JSON, container: str) -> bool:
        state = self._status_of(pod, container).get("state") or {}
        return "terminated" in state

    # ------------------------------------------------------------------ openapi
    def _openapi(self, request: web.Request, parts: list[str]) -> web.Response:
        reg = self.store.registry
        if parts == ["v2"]:
            return web.Response(
                body=openapi.openapi_v2_protobuf(),
                content_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
        if parts == ["v3"]:
            return _json(openapi.index(reg))
        if len(parts) >= 3 and parts[0] == "v3":
            if parts[1] == "api" and len(parts) == 3:
                doc = openapi.group_version_doc(reg, "", parts[2])
            elif parts[1] == "apis" and len(parts) == 4:
                doc = openapi.group_version_doc(reg, parts[2], parts[3])
            else:
                doc = None
            if doc is not None:
                return _json(doc)
        raise errors.page_not_found()

    # ------------------------------------------------------------------ admin
    async def _admin(self, request: web.Request, path: str) -> web.Response:
        """Fault and chaos controls for out-of-process servers (tests use the Python API)."""
        action = path[len("/_sandbox/") :]
        body = await self._body(request, optional=True) if request.method == "POST" else {}
        if action == "faults":
            if request.method == "POST":
                self.faults.apply_json(body)
            elif request.method == "DELETE":
                self.faults.clear()
            return _json(self.faults.to_json())
        if action == "pause" and request.method == "POST":
            self.pause()
            return _json({"paused": True})
        if action == "resume" and request.method == "POST":
            self.resume()
            return _json({"paused": False})
        if action == "compact" and request.method == "POST":
            self.store.expire_history()
            return _json({"compactedAt": str(self.store.rv)})
        if action == "info":
            return _json(
                {
                    "resourceVersion": str(self.store.rv),
                    "time": time.time(),
                    "stateDir": str(self.state_dir),
                }
            )
        handler = self.admin_actions.get(action)
        if handler is not None and request.method == "POST":
            return _json(await handler(body))
        raise errors.page_not_found()
