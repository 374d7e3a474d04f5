# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure Resource Manager: routing, resource groups, the resource store and the generic PUT/GET/DELETE flow.

Resource providers (network.py, compute.py) describe their types as :class:`Kind` objects; this module does
what ARM does around them: bearer check, subscription and resource group lookup, api-version check, name
rules, case-insensitive paths with the first-written casing kept, async operations, cascade delete.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .core import ArmError, Request, Response, new_id
from .lro import FAILED, SUCCEEDED, Operation, OperationEngine, OperationFailed
from .names import API_VERSIONS, LOCATIONS, check_api_version, check_resource_group_name, normalize_location

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["Kind", "PutContext", "Resource", "ResourceManager"]

RG_TYPE = "Microsoft.Resources/resourceGroups"


@dataclass
class Resource:
    id: str
    kind: Kind | None  # None for a resource group
    name: str
    group: str
    body: dict
    secret: dict = field(default_factory=dict)
    parent: str | None = None  # key of the parent resource (children: subnets, rules, extensions)
    state: dict = field(default_factory=dict)  # provider-private state (addresses, daemons)
    op: Operation | None = None

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def properties(self) -> dict:
        return self.body.setdefault("properties", {})


@dataclass
class PutContext:
    """One validated PUT: what the provider wants stored, and what its long-running work needs."""

    arm: ResourceManager
    request: Request
    kind: Kind
    id: str
    name: str
    group: str
    parent: Resource | None
    existing: Resource | None
    body: dict  # the request body as sent
    stored: dict = field(default_factory=dict)  # the representation to store (without server-only values)
    secret: dict = field(default_factory=dict)
    state: dict = field(default_factory=dict)

    @property
    def created(self) -> bool:
        return self.existing is None


class Kind:
    """A resource type: ``namespace`` + ``path`` (type segments), and the hooks a provider fills in."""

    namespace = ""
    path: tuple[str, ...] = ()
    location_from_parent = False
    pending_state = "Updating"  # provisioningState while a PUT runs (network: Updating, compute: Creating)
    put_async = True
    actions: tuple[str, ...] = ()

    @property
    def type_name(self) -> str:
        return f"{self.namespace}/{'/'.join(self.path)}"

    @property
    def short_type(self) -> str:
        return self.path[-1]

    # -- hooks --------------------------------------------------------------------------------
    def check_name(self, name: str) -> None:
        """Raise InvalidResourceName for a name the provider refuses."""

    def validate(self, ctx: PutContext) -> None:
        """Check the PUT and fill ``ctx.stored``/``ctx.secret``/``ctx.state``; raise ArmError, change nothing."""
        raise NotImplementedError

    def commit(self, ctx: PutContext, res: Resource) -> None:
        """Apply side effects of a validated PUT (under the lock): children, addresses, back-references."""

    def work(self, ctx: PutContext, res: Resource, op: Operation) -> None:
        """The long-running part of a PUT (outside the lock); raise OperationFailed to fail it."""

    def finish(self, res: Resource, op: Operation) -> None:
        """After the PUT's operation ended (under the lock)."""
        res.properties["provisioningState"] = SUCCEEDED if op.status == SUCCEEDED else FAILED

    def render(self, res: Resource, request: Request) -> dict:
        return copy.deepcopy(res.body)

    def check_delete(self, res: Resource) -> None:
        """Raise ArmError if Azure would refuse to delete ``res`` now (in use)."""

    def removed(self, res: Resource) -> None:
        """``res`` left the store (deleted, or its group deleted): release what it holds. Under the lock."""

    def delete_work(self, res: Resource, op: Operation) -> None:
        """The long-running part of a DELETE (outside the lock)."""

    def not_found(self, arm: ResourceManager, resource_id: str, name: str, group: str) -> ArmError:
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{self.type_name}/{name}' under resource group '{group}' was not found. For more "
            "details please go to https://aka.ms/ARMResourceNotFoundFix",
        )

    def conflict(self, res: Resource) -> ArmError:
        """A write while another operation on the resource runs."""
        return ArmError(
            409,
            "AnotherOperationInProgress",
            f"Another operation on this or dependent resource is in progress. To retrieve status of the operation "
            f"use uri: {res.state.get('op_url', '')}.",
            details=[],
        )

    def action(self, arm: ResourceManager, res: Resource, name: str, request: Request) -> Response:
        raise ArmError(404, "NotFound", f"No HTTP resource was found that matches the request URI '{request.path}'.")


def _seg(value: str) -> str:
    return urllib.parse.unquote(value)


class ResourceManager:
    """The store of resources and the request flow around the providers' kinds."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.lock: threading.RLock = emulator.lock
        self.ops: OperationEngine = emulator.ops
        self.resources: dict[str, Resource] = {}
        self.kinds: dict[tuple[str, tuple[str, ...]], Kind] = {}

    # -- registry and store ---------------------------------------------------------------------
    def register(self, kind: Kind) -> None:
        self.kinds[(kind.namespace.lower(), tuple(p.lower() for p in kind.path))] = kind

    def reset(self) -> None:
        with self.lock:
            doomed = list(self.resources.values())
            self.resources.clear()
        for res in doomed:
            if res.kind is not None:
                res.kind.removed(res)

    @property
    def sub(self) -> str:
        return self.emu.identity.subscription_id

    def rg_id(self, group: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{group}"

    def get(self, resource_id: str) -> Resource | None:
        return self.resources.get(resource_id.lower().rstrip("/"))

    def children(self, res: Resource, kind: Kind | None = None) -> list[Resource]:
        return [r for r in self.resources.values() if r.parent == res.key and (kind is None or r.kind is kind)]

    def in_group(self, group: str) -> list[Resource]:
        prefix = self.rg_id(group).lower() + "/"
        return [r for r in self.resources.values() if r.key.startswith(prefix)]

    def resolve(self, reference: Any, expected_type: str) -> Resource | None:
        """The resource an ``{"id": ...}`` reference names, if it exists and has the expected type."""
        if not isinstance(reference, dict) or not isinstance(reference.get("id"), str):
            return None
        res = self.get(reference["id"])
        if res is None or res.kind is None or res.kind.type_name.lower() != expected_type.lower():
            return None
        return res

    # -- request entry ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        segs = [_seg(s) for s in request.path.strip("/").split("/")]
        low = [s.lower() for s in segs]
        if low == ["subscriptions"]:
            return self._subscriptions_list(request)
        if low[1] != self.sub:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{segs[1]}' could not be found.")
        rest, lrest = segs[2:], low[2:]
        if not rest:
            return self._subscription_get(request)
        if lrest[0] == "providers":
            return self._subscription_provider(request, rest, lrest)
        if lrest[0] == "operationresults" and len(rest) == 2:
            return self._poll_location(request, rest[1])
        if lrest[0] == "resourcegroups" and len(rest) == 1 and request.method == "GET":
            return self._list_groups(request)
        if lrest[0] != "resourcegroups" or len(rest) == 1:
            raise _no_route(request)
        return self._in_group(request, rest, lrest)

    def _subscription_provider(self, request: Request, rest: list[str], lrest: list[str]) -> Response:
        """``/subscriptions/{sub}/providers/...``: operation status URLs and subscription-wide lists."""
        if len(rest) == 6 and lrest[2] == "locations" and lrest[4] in ("operations", "operationresults"):
            if lrest[4] == "operations" and request.query.get("monitor", "").lower() != "true":
                return self._poll_status(request, rest[5])
            return self._poll_location(request, rest[5])
        if len(rest) == 3 and request.method == "GET":
            return self._list_subscription(request, rest[1], rest[2])
        raise _no_route(request)

    def _list_groups(self, request: Request) -> Response:
        check_api_version(request.api_version, "Microsoft.Resources", "resourceGroups")
        with self.lock:
            groups = [r for r in self.resources.values() if r.kind is None]
            return Response(200, {"value": [self._render_group(g) for g in groups]})

    def _in_group(self, request: Request, rest: list[str], lrest: list[str]) -> Response:
        group = rest[1]
        if len(rest) == 2:
            return self._resource_group(request, group)
        if lrest[2] == "resources" and len(rest) == 3 and request.method == "GET":
            return self._list_group_resources(request, group)
        if lrest[2] != "providers" or len(rest) < 5:
            raise _no_route(request)
        return self._provider_resource(request, group, rest[3], rest[4:])

    # -- subscriptions -----------------------------------------------------------------------------
    def _subscription_body(self) -> dict:
        return {
            "id": f"/subscriptions/{self.sub}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": self.sub,
            "tenantId": self.emu.identity.tenant_id,
            "displayName": "Azure emulator subscription",
            "state": "Enabled",
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }

    def _subscriptions_list(self, request: Request) -> Response:
        check_api_version(request.api_version, "Microsoft.Resources", "subscriptions")
        return Response(200, {"value": [self._subscription_body()], "count": {"type": "Total", "value": 1}})

    def _subscription_get(self, request: Request) -> Response:
        check_api_version(request.api_version, "Microsoft.Resources", "subscriptions")
        return Response(200, self._subscription_body())

    # -- resource groups --------------------------------------------------------------------------
    def _render_group(self, res: Resource) -> dict:
        return copy.deepcopy(res.body)

    def group(self, name: str) -> Resource | None:
        return self.get(self.rg_id(name))

    def require_group(self, name: str) -> Resource:
        res = self.group(name)
        if res is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return res

    def _resource_group(self, request: Request, name: str) -> Response:
        check_api_version(request.api_version, "Microsoft.Resources", "resourceGroups")
        method = request.method
        with self.lock:
            existing = self.group(name)
            if method == "HEAD":
                return Response(204 if existing else 404)
            if method == "GET":
                if existing is None:
                    self.require_group(name)
                return Response(200, self._render_group(existing))
            if method == "PUT":
                return self._put_group(request, name, existing)
            if method == "PATCH":
                return self._patch_group(request, name, existing)
            if method == "DELETE":
                if existing is None:
                    self.require_group(name)
                return self._delete_group(request, existing)
        raise _method_not_allowed(request)

    def _put_group(self, request: Request, name: str, existing: Resource | None) -> Response:
        check_resource_group_name(name)
        body = request.json()
        if not isinstance(body, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        if "location" not in body or body.get("location") in (None, ""):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        location = normalize_location(body["location"])
        if location is None:
            raise ArmError(
                400,
                "LocationNotAvailableForResourceGroup",
                f"The provided location '{body['location']}' is not available for resource group. List of "
                f"available regions is '{','.join(_rg_locations())}'.",
            )
        tags = check_tags(body.get("tags"))
        if existing is not None:
            if existing.body["location"] != location:
                raise ArmError(
                    409,
                    "InvalidResourceGroupLocation",
                    f"Invalid resource group location '{body['location']}'. The Resource group already exists in "
                    f"location '{existing.body['location']}'.",
                )
            self._refuse_while_deleting(existing)
            if tags is not None:
                existing.body["tags"] = tags
            else:
                existing.body.pop("tags", None)
            if body.get("managedBy"):
                existing.body["managedBy"] = body["managedBy"]
            return Response(200, self._render_group(existing))
        rg = Resource(
            id=self.rg_id(name),
            kind=None,
            name=name,
            group=name,
            body={
                "id": self.rg_id(name),
                "name": name,
                "type": RG_TYPE,
                "location": location,
                "properties": {"provisioningState": SUCCEEDED},
            },
        )
        if tags is not None:
            rg.body["tags"] = tags
        if body.get("managedBy"):
            rg.body["managedBy"] = body["managedBy"]
        self.resources[rg.key] = rg
        return Response(201, self._render_group(rg))

    def _patch_group(self, request: Request, name: str, existing: Resource | None) -> Response:
        if existing is None:
            self.require_group(name)
        body = request.json() or {}
        if not isinstance(body, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        self._refuse_while_deleting(existing)
        if "tags" in body:
            tags = check_tags(body["tags"])
            if tags is None:
                existing.body.pop("tags", None)
            else:
                existing.body["tags"] = tags
        if body.get("managedBy"):
            existing.body["managedBy"] = body["managedBy"]
        return Response(200, self._render_group(existing))

    def _refuse_while_deleting(self, rg: Resource) -> None:
        if rg.properties.get("provisioningState") == "Deleting":
            raise ArmError(
                409,
                "ResourceGroupBeingDeleted",
                f"The resource group '{rg.name}' is in deprovisioning state and cannot perform this operation.",
            )

    def _delete_group(self, request: Request, rg: Resource) -> Response:
        if rg.op is not None and not rg.op.finished:
            return self._accepted_group_delete(rg.op)
        rg.properties["provisioningState"] = "Deleting"
        kind_name = "Microsoft.Resources/subscriptions/resourceGroups/delete"
        forced = self._forced_failure(request)

        def work(op: Operation) -> None:
            with self.lock:
                members = self.in_group(rg.name)
            for member in _delete_order(members):
                if member.kind is not None:
                    member.kind.delete_work(member, op)

        def on_end(op: Operation) -> None:
            if op.status == SUCCEEDED:
                self._remove_tree(rg)
            else:
                rg.properties["provisioningState"] = SUCCEEDED

        return self._accepted_group_delete(
            self.start_operation(kind_name, rg, "DELETE", work, forced=forced, on_end=on_end)
        )

    def _accepted_group_delete(self, op: Operation) -> Response:
        url = f"{self.emu.endpoint}/subscriptions/{self.sub}/operationresults/{op.id}?api-version=2025-04-01"
        headers = {"Location": url}
        if retry_after := op.first_retry_after():
            headers["Retry-After"] = str(retry_after)
        return Response(202, None, headers)

    def _remove_tree(self, root: Resource) -> None:
        """Remove ``root`` and everything below it (children, or a group's members) from the store."""
        prefix = root.key + "/"
        doomed = [r for r in self.resources.values() if r.key == root.key or r.key.startswith(prefix)]
        for res in _delete_order(doomed):
            self.resources.pop(res.key, None)
            if res.op is not None and not res.op.finished and res is not root:
                self.ops.cancel(res.op, "OperationPreempted", "The operation was preempted by a delete.")
            if res.kind is not None:
                res.kind.removed(res)

    def _list_group_resources(self, request: Request, group: str) -> Response:
        check_api_version(request.api_version, "Microsoft.Resources", "resources")
        with self.lock:
            self.require_group(group)
            value = [
                {"id": r.id, "name": r.name, "type": r.kind.type_name, "location": r.body.get("location")}
                for r in self.in_group(group)
                if r.kind is not None and r.parent is None
            ]
        return Response(200, {"value": value})

    # -- provider resources ---------------------------------------------------------------------------
    def _lookup_kind(self, request: Request, namespace: str, tail: list[str]) -> tuple[Kind, str | None]:
        """The kind a provider path names, and the action segment ending it (``.../instanceView``) if any."""
        if namespace.lower() not in {ns for ns, _path in self.kinds}:
            raise ArmError(400, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
        types = tuple(t.lower() for t in tail[0::2])
        kind = self.kinds.get((namespace.lower(), types))
        if kind is not None:
            return kind, None
        if len(types) >= 2 and len(tail) % 2 == 1:
            candidate = self.kinds.get((namespace.lower(), types[:-1]))
            if candidate is not None and tail[-1].lower() in [a.lower() for a in candidate.actions]:
                return candidate, tail[-1]
        raise ArmError(
            400,
            "InvalidResourceType",
            f"The resource type '{'/'.join(tail[0::2])}' could not be found in the namespace '{namespace}' for api "
            f"version '{request.api_version}'.",
        )

    def _provider_resource(self, request: Request, group: str, namespace: str, tail: list[str]) -> Response:
        kind, action = self._lookup_kind(request, namespace, tail)
        if action is not None:
            tail = tail[:-1]
        check_api_version(request.api_version, kind.namespace, kind.short_type)
        names = tail[1::2]
        is_list = len(names) < len(kind.path)
        with self.lock:
            rg = self.require_group(group)
            parent_names = names if is_list else names[:-1]
            parent = self._find_parent(kind, group, parent_names) if parent_names else None
            if is_list:
                if request.method != "GET":
                    raise _method_not_allowed(request)
                return self._list(request, kind, group, parent)
            name = names[-1]
            resource_id = self._build_id(kind, rg, parent, name)
            existing = self.get(resource_id)
            if request.method == "PUT" and action is None:
                self._refuse_while_deleting(rg)
                return self._put(
                    request, kind, resource_id=resource_id, name=name, rg=rg, parent=parent, existing=existing
                )
            if existing is None:
                if request.method == "DELETE" and action is None:
                    return Response(204)
                raise kind.not_found(self, resource_id, name, group)
            return self._on_existing(request, kind, existing, action=action, rg=rg, parent=parent)

    def _on_existing(
        self, request: Request, kind: Kind, existing: Resource, *, action: str | None, rg: Resource, parent
    ) -> Response:
        if action is not None:
            return kind.action(self, existing, action, request)
        if request.method == "GET":
            return Response(200, kind.render(existing, request))
        if request.method == "PATCH":
            return self._patch(request, kind, existing, rg, parent)
        if request.method == "DELETE":
            return self._delete(request, existing)
        raise _method_not_allowed(request)

    def _find_parent(self, kind: Kind, group: str, parent_names: list[str]) -> Resource:
        rg = self.group(group)
        parent: Resource | None = None
        for depth, pname in enumerate(parent_names):
            parent_kind = self.kinds[(kind.namespace.lower(), tuple(p.lower() for p in kind.path[: depth + 1]))]
            pid = self._build_id(parent_kind, rg, parent, pname)
            found = self.get(pid)
            if found is None:
                raise ArmError(
                    404,
                    "ParentResourceNotFound",
                    f"Can not perform requested operation on nested resource. Parent resource '{pname}' not found.",
                )
            parent = found
        return parent

    def _build_id(self, kind: Kind, rg: Resource, parent: Resource | None, name: str) -> str:
        base = parent.id if parent is not None else f"{rg.id}/providers/{kind.namespace}"
        existing = self.get(f"{base}/{kind.path[-1]}/{name}")
        if existing is not None:
            return existing.id
        return f"{base}/{kind.path[-1]}/{name}"

    def _list(self, request: Request, kind: Kind, group: str, parent: Resource | None) -> Response:
        items = [r for r in self.in_group(group) if r.kind is kind and (parent is None or r.parent == parent.key)]
        return Response(200, {"value": [kind.render(r, request) for r in items]})

    def _list_subscription(self, request: Request, namespace: str, type_name: str) -> Response:
        kind = self.kinds.get((namespace.lower(), (type_name.lower(),)))
        if kind is None:
            raise ArmError(
                400,
                "InvalidResourceType",
                f"The resource type '{type_name}' could not be found in the namespace '{namespace}' for api version "
                f"'{request.api_version}'.",
            )
        check_api_version(request.api_version, kind.namespace, kind.short_type)
        with self.lock:
            items = [r for r in self.resources.values() if r.kind is kind]
            return Response(200, {"value": [kind.render(r, request) for r in items]})

    # -- the generic write flow ---------------------------------------------------------------------
    def _forced_failure(self, request: Request) -> OperationFailed | None:
        fault = self.emu.faults.take(request, ("operation",))
        if fault is None:
            return None
        self.emu.note_fault(request, fault)
        status = str(fault.status or "Failed")
        if status not in ("Failed", "Canceled"):
            status = "Failed"
        return OperationFailed(
            fault.code or ("OperationCanceled" if status == "Canceled" else "InternalOperationError"),
            fault.message
            or (
                "The operation was canceled."
                if status == "Canceled"
                else "An internal execution error occurred. Please retry later."
            ),
            status=status,
            http_status=400,
        )

    def _put(
        self,
        request: Request,
        kind: Kind,
        *,
        resource_id: str,
        name: str,
        rg: Resource,
        parent: Resource | None,
        existing: Resource | None,
    ) -> Response:
        if existing is None:
            kind.check_name(name)
        body = request.json()
        if not isinstance(body, dict):
            raise ArmError(
                400,
                "InvalidRequestFormat",
                "Cannot parse the request.",
                details=[{"code": "MissingJsonBody", "message": "The request body is missing or not a JSON object."}],
            )
        if existing is not None and existing.op is not None and not existing.op.finished:
            raise kind.conflict(existing)
        ctx = PutContext(
            arm=self,
            request=request,
            kind=kind,
            id=resource_id,
            name=existing.name if existing else name,
            group=rg.name,
            parent=parent,
            existing=existing,
            body=body,
        )
        kind.validate(ctx)
        forced = self._forced_failure(request)
        stored = ctx.stored
        stored.setdefault("properties", {})["provisioningState"] = kind.pending_state if kind.put_async else SUCCEEDED
        if existing is None:
            res = Resource(
                id=resource_id,
                kind=kind,
                name=name,
                group=rg.name,
                body=stored,
                secret=ctx.secret,
                parent=parent.key if parent else None,
                state=ctx.state,
            )
            self.resources[res.key] = res
        else:
            res = existing
            res.body = stored
            res.secret = ctx.secret
            res.state.update(ctx.state)
        kind.commit(ctx, res)
        status = 201 if ctx.created else 200
        if not kind.put_async:
            return Response(status, kind.render(res, request))
        op_kind = f"{kind.type_name}/write"

        def work(op: Operation) -> None:
            kind.work(ctx, res, op)

        def on_end(op: Operation) -> None:
            if self.get(res.id) is res and res.op is op:
                kind.finish(res, op)

        op = self.start_operation(op_kind, res, "PUT", work, forced=forced, on_end=on_end)
        headers = self.async_headers(kind, res, op, location=False)
        res.state["op_url"] = headers["Azure-AsyncOperation"]
        return Response(status, kind.render(res, request), headers)

    def _patch(
        self, request: Request, kind: Kind, existing: Resource, rg: Resource, parent: Resource | None
    ) -> Response:
        """PATCH (update tags and the like): merge into the current representation, then PUT it."""
        patch = request.json()
        if not isinstance(patch, dict):
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.")
        merged = _merge(kind.render(existing, request), patch)
        for server_only in ("id", "etag", "type"):
            merged.pop(server_only, None)
        merged_request = Request(
            request.method, request.path, request.query, request.headers, json.dumps(merged).encode(), request.raw_query
        )
        return self._put(
            merged_request, kind, resource_id=existing.id, name=existing.name, rg=rg, parent=parent, existing=existing
        )

    def _delete(self, request: Request, res: Resource) -> Response:
        kind = res.kind
        if res.op is not None and not res.op.finished:
            if res.op.method == "DELETE":
                return Response(202, None, self.async_headers(kind, res, res.op, location=True))
            self.ops.cancel(
                res.op, "OperationPreempted", "Operation execution has been preempted by a more recent operation."
            )
        kind.check_delete(res)
        forced = self._forced_failure(request)
        res.properties["provisioningState"] = "Deleting"
        op_kind = f"{kind.type_name}/delete"

        def work(op: Operation) -> None:
            with self.lock:
                below = [r for r in self.resources.values() if r.key.startswith(res.key + "/")]
            for child in _delete_order(below):
                child.kind.delete_work(child, op)
            kind.delete_work(res, op)

        def on_end(op: Operation) -> None:
            if op.status == SUCCEEDED:
                if self.get(res.id) is res:
                    self._remove_tree(res)
            elif self.get(res.id) is res:
                res.properties["provisioningState"] = FAILED

        op = self.start_operation(op_kind, res, "DELETE", work, forced=forced, on_end=on_end)
        return Response(202, None, self.async_headers(kind, res, op, location=True))

    def start_operation(self, op_kind: str, res: Resource, method: str, work, *, forced=None, on_end=None) -> Operation:
        """Start ``res``'s long-running operation with the configured latency (and Retry-After while one is set)."""
        res.op = self.ops.start(
            op_kind,
            res.id,
            method,
            work,
            delay=self.emu.latency.delay(op_kind),
            retry_after=self.emu.latency.retry_after(op_kind),
            forced=forced,
            on_end=on_end,
        )
        return res.op

    # -- operation URLs and polling ---------------------------------------------------------------------
    def location_of(self, res: Resource) -> str:
        node = res
        while node.parent is not None and "location" not in node.body:
            node = self.resources.get(node.parent, node)
            if node.parent is None:
                break
        return node.body.get("location") or "westus"

    def async_headers(self, kind: Kind, res: Resource, op: Operation, *, location: bool) -> dict[str, str]:
        version = kind_api_version(kind)
        base = (
            f"{self.emu.endpoint}/subscriptions/{self.sub}/providers/{kind.namespace}/locations/{self.location_of(res)}"
        )
        headers = {"Azure-AsyncOperation": f"{base}/operations/{op.id}?api-version={version}"}
        if location:
            if kind.namespace == "Microsoft.Compute":
                headers["Location"] = f"{base}/operations/{op.id}?monitor=true&api-version={version}"
            else:
                headers["Location"] = f"{base}/operationResults/{op.id}?api-version={version}"
        if retry_after := op.first_retry_after():
            headers["Retry-After"] = str(retry_after)
        return headers

    def _operation(self, op_id: str) -> Operation:
        op = self.ops.get(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"The operation '{op_id}' could not be found.")
        return op

    def _poll_status(self, request: Request, op_id: str) -> Response:
        op = self._operation(op_id)
        with self.lock:
            retry_after = op.poll_retry_after()
            return Response(200, op.status_body(), {"Retry-After": str(retry_after)} if retry_after else {})

    def _poll_location(self, request: Request, op_id: str) -> Response:
        op = self._operation(op_id)
        with self.lock:
            retry_after = op.poll_retry_after()
            if not op.finished:
                scheme_host = self.emu.endpoint
                headers = {
                    "Location": f"{scheme_host}{request.path}" + (f"?{request.raw_query}" if request.raw_query else "")
                }
                if retry_after:
                    headers["Retry-After"] = str(retry_after)
                return Response(202, None, headers)
            if op.status == SUCCEEDED:
                if op.method == "DELETE":
                    return Response(200 if op.kind.startswith("Microsoft.Resources") else 204)
                res = self.get(op.resource_id)
                if res is None or res.kind is None:
                    return Response(204)
                return Response(200, res.kind.render(res, request))
            return Response(op.http_status, op.error_response_body())


def kind_api_version(kind: Kind) -> str:
    return API_VERSIONS[kind.namespace.lower()][-1]


# Children and dependants go first: extensions, VMs, NICs, then addresses, NSGs and networks.
_ORDER = {
    "microsoft.compute/virtualmachines/extensions": 0,
    "microsoft.compute/virtualmachines": 1,
    "microsoft.network/networkinterfaces": 2,
    "microsoft.network/publicipaddresses": 3,
    "microsoft.network/networksecuritygroups/securityrules": 4,
    "microsoft.network/networksecuritygroups": 5,
    "microsoft.network/virtualnetworks/subnets": 6,
    "microsoft.network/virtualnetworks": 7,
}


def _delete_order(resources: list[Resource]) -> list[Resource]:
    def rank(res: Resource) -> int:
        if res.kind is None:
            return 99
        return _ORDER.get(res.kind.type_name.lower(), 50)

    return sorted(resources, key=rank)


def check_tags(tags: Any) -> dict | None:
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ArmError(400, "InvalidRequestContent", "The 'tags' property must be an object.")
    if len(tags) > 50:
        raise ArmError(400, "InvalidTagCount", "The number of tags per resource or resource group is limited to 50.")
    for key, value in tags.items():
        if len(key) > 512 or any(ch in key for ch in "<>%&\\?/"):
            raise ArmError(
                400,
                "InvalidTagNameCharacters",
                f"The tag names '{key}' have reserved characters '<,>,%,&,\\,?,/' or control characters.",
            )
        if value is not None and (not isinstance(value, str) or len(value) > 256):
            raise ArmError(400, "InvalidTagValueLength", f"The tag value for '{key}' exceeds 256 characters.")
    return dict(tags)


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _rg_locations() -> list[str]:
    return list(LOCATIONS)


def _no_route(request: Request) -> ArmError:
    return ArmError(404, "NotFound", f"No HTTP resource was found that matches the request URI '{request.path}'.")


def _method_not_allowed(request: Request) -> ArmError:
    return ArmError(
        405,
        "MethodNotAllowed",
        f"The requested resource does not support http method '{request.method}'.",
    )


def etag() -> str:
    return f'W/"{new_id()}"'
