# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker host as a plan: read what exists, plan it in stages, apply the stages, report.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

* :func:`read_existing` reads the group and every resource (one GET each, concurrently).
* :func:`plan_present` / :func:`plan_absent` are pure: a :class:`Request` and what exists give a
  :class:`Plan`, an ordered list of :class:`Stage`. A stage depends only on the stages before it; the
  steps of a ``concurrent`` stage are sent at the same time. The plan is what check mode reports, what
  diff mode shows and what ``changed`` is computed from.
* :class:`Executor` applies a plan stage by stage and remembers whether Azure accepted any write.
* :func:`present_result` / :func:`common_result` turn plan and resources into the module's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_extension import (
    ExtensionFailed,
    check_server_key,
    delete_extension,
    extension_outcome,
    failure_text,
    get_extension,
    list_extensions,
    plan_extensions,
    put_extension,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_network import (
    NETWORK_RESOURCES,
    NetworkIds,
    NetworkNames,
    delete_network_resource,
    get_network_resource,
    plan_network_interface,
    plan_public_ip,
    plan_virtual_network,
    put_network_resource,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_rekey import judge_ca
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_request import Request
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    Step,
    create_resource_group,
    get_resource_group,
    location_key,
    owned_by,
    plan_resource_group,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    Clients,
    Deadline,
    run_concurrently,
    settled,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_security_group import plan_security_group
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm import (
    VmSpec,
    delete_vm,
    get_vm,
    plan_vm,
    put_vm,
    vm_id,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import names_host

__all__ = [
    "Executor",
    "Plan",
    "Stage",
    "common_result",
    "network_ids",
    "plan_absent",
    "plan_present",
    "present_result",
    "read_existing",
    "resource_ids",
]


@dataclass(frozen=True)
class Stage:
    """Steps that depend only on earlier stages; the steps of a ``concurrent`` stage are sent together."""

    name: str
    steps: tuple[Step, ...]
    concurrent: bool = False


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...]
    warnings: tuple[str, ...] = ()

    @property
    def steps(self) -> list[Step]:
        return [step for stage in self.stages for step in stage.steps]

    @property
    def changed(self) -> bool:
        return any(step.changed for step in self.steps)


def network_ids(request: Request, subscription: str) -> NetworkIds:
    """Where the host's resources are: the request's group and VM in ``subscription``."""
    return NetworkIds(subscription, request.resource_group, NetworkNames(request.name), request.subnet_id)


# -- reading -------------------------------------------------------------------------------------------
def read_existing(clients: Clients, request: Request, ids: NetworkIds, deadline: Deadline) -> tuple[dict | None, dict]:
    """The resource group and, when it exists, every resource of the host (one GET each, concurrently).

    A resource an earlier run left mid-operation is read again until it settles.
    """
    group = get_resource_group(clients, request.resource_group, deadline)
    if group is None:
        return None, {}
    rg, vm = request.resource_group, request.name
    getters = {
        resource: partial(get_network_resource, clients, resource, rg, ids.names.name(resource), deadline)
        for resource in NETWORK_RESOURCES
        if not (resource == "virtual_network" and request.subnet_id)
    }
    getters["virtual_machine"] = partial(get_vm, clients, rg, vm, deadline)
    getters["extensions"] = partial(list_extensions, clients, rg, vm, deadline)
    return group, run_concurrently(
        {key: partial(settled, f"read {key}", get, deadline) for key, get in getters.items()}
    )


# -- planning ------------------------------------------------------------------------------------------
def plan_present(
    request: Request, ids: NetworkIds, group: dict | None, actual: dict, *, rotate_ca: bool = False
) -> Plan:
    """Raises ``CaMismatch`` (before any write, in check mode too) when the host was set up with another CA
    and ``rotate_ca`` is false, and ``ServerKeyRequired`` when the extension must be put without the server
    key (the request's certificate is the one in use on the host)."""
    rg_step = plan_resource_group(group, request.resource_group, request.location, request.tags, request.name)
    # The group's region is only a default: resources may live elsewhere.
    location = request.location or location_key((group or {}).get("location"))
    common = {"ids": ids, "location": location, "tags": request.tags, "vm_name": request.name}
    network = [
        plan_security_group(
            actual.get("network_security_group"),
            allowed_cidrs=list(request.allowed_cidrs),
            docker_port=request.docker_port,
            **common,
        ),
        plan_public_ip(actual.get("public_ip"), dns_label=request.dns_label, **common),
    ]
    if not request.subnet_id:
        network.append(plan_virtual_network(actual.get("virtual_network"), **common))
    nic = plan_network_interface(actual.get("network_interface"), **common)
    spec = VmSpec(
        name=request.name,
        location=location,
        vm_size=request.vm_size,
        image=request.image,
        admin_username=request.admin_username,
        ssh_public_keys=request.ssh_public_keys,
        admin_password=request.admin_password,
        nic_id=ids.id("network_interface"),
        tags=request.tags,
    )
    verdict = judge_ca(
        actual.get("extensions") or [],
        vm_name=request.name,
        resource_group=request.resource_group,
        ca_sha256=request.certs.ca_sha256,
        server_sha256=request.certs.server_sha256,
        rotate=rotate_ca,
    )
    extensions = plan_extensions(
        actual.get("extensions") or [],
        method=request.install_method,
        port=request.docker_port,
        certs=request.certs,
        location=location,
        vm_name=request.name,
    )
    # Before any write, in check mode too: the extension cannot be put without the server key.
    check_server_key(extensions, request.certs, request.name)
    return Plan(
        (
            Stage("resource group", (rg_step,)),
            Stage("network", tuple(network), concurrent=True),
            Stage("network interface", (nic,)),
            Stage("virtual machine", (plan_vm(actual.get("virtual_machine"), spec),)),
            # The other install method's extension goes before ours is put.
            Stage("extensions", tuple(extensions)),
        ),
        # Only worth saying when the extension is about to be put.
        warnings=(verdict.warning,) if verdict.warning and extensions[-1].changed else (),
    )


def _delete(resource: str, existing: dict) -> Step:
    return Step(resource, existing["name"], "delete", before={"tags": existing.get("tags")}, after=None)


def plan_absent(request: Request, actual: dict) -> Plan:
    """Delete what carries this VM's ownership tag: the VM first (its extensions and OS disk go with it),
    then the NIC, then the rest together."""
    stages = []
    vm = actual.get("virtual_machine")
    if owned_by(vm, request.name):
        stages.append(Stage("virtual machine", (_delete("virtual_machine", vm),)))
    elif vm is not None:
        ours = tuple(_delete("extension", e) for e in actual.get("extensions") or [] if owned_by(e, request.name))
        stages.append(Stage("extensions", ours))
    owned = {r: actual[r] for r in NETWORK_RESOURCES if owned_by(actual.get(r), request.name)}
    if "network_interface" in owned:
        stages.append(Stage("network interface", (_delete("network_interface", owned.pop("network_interface")),)))
    stages.append(Stage("network", tuple(_delete(r, found) for r, found in owned.items()), concurrent=True))
    return Plan(tuple(stages))


# -- applying ------------------------------------------------------------------------------------------
class Executor:
    """Applies a plan's changed steps, stage by stage; ``wrote`` says whether Azure accepted any write."""

    def __init__(self, clients: Clients, request: Request, deadline: Deadline):
        self.clients = clients
        self.request = request
        self.deadline = deadline
        self.wrote = False
        rg, vm = request.resource_group, request.name
        network = (
            lambda step: put_network_resource(clients, step, rg, deadline),
            lambda step: delete_network_resource(clients, step, rg, deadline),
        )
        # resource type -> (put, delete); a put returns the resource as Azure now has it.
        self._operations = {
            "resource_group": (lambda step: create_resource_group(clients, step, deadline), None),
            **dict.fromkeys(NETWORK_RESOURCES, network),
            "virtual_machine": (
                lambda step: put_vm(clients, step, rg, deadline),
                lambda step: delete_vm(clients, rg, step.name, deadline),
            ),
            "extension": (self._run_extension, lambda step: delete_extension(clients, rg, vm, step.name, deadline)),
        }

    def apply(self, plan: Plan, actual: dict) -> dict:
        """Returns the resources as they now are (``actual`` updated with what the PUTs returned)."""
        current = dict(actual)
        for stage in plan.stages:
            todo = {f"{s.resource} {s.name}": partial(self._apply_step, s) for s in stage.steps if s.changed}
            results = run_concurrently(todo) if stage.concurrent else {key: step() for key, step in todo.items()}
            current.update(result for result in results.values() if result[1] is not None)
        return current

    def _apply_step(self, step: Step) -> tuple[str, dict | None]:
        """One write: (resource type, the resource as it now is, None once deleted)."""
        put, delete = self._operations[step.resource]
        if step.action == "delete":
            self._write(delete, step)
            return step.resource, None
        return step.resource, self._write(put, step)

    def _write(self, func, step: Step):
        """Run one write; a 4xx rejection changed nothing, anything else may have."""
        try:
            result = func(step)
        except AzureDockerHostError as exc:
            if not (exc.status and 400 <= exc.status < 500):
                self.wrote = True
            raise
        self.wrote = True
        return result

    def _run_extension(self, step: Step) -> dict | None:
        """Put the extension (Azure runs it on the VM); a failed run fails with what it said."""
        rg, vm, deadline = self.request.resource_group, self.request.name, self.deadline
        try:
            put_extension(self.clients, step, rg, vm, deadline)
        except AzureDockerHostError as exc:
            found = get_extension(self.clients, rg, vm, step.name, deadline)
            if found is None or (found.get("properties") or {}).get("provisioningState") != "Failed":
                raise
            method = self.request.install_method
            raise ExtensionFailed(
                f"the {method.type} extension {step.name!r} failed on VM {vm!r}: {failure_text(found)}",
                extension_outcome(found, method),
            ) from exc
        return get_extension(self.clients, rg, vm, step.name, deadline)


# -- the result ----------------------------------------------------------------------------------------
def resource_ids(request: Request, ids: NetworkIds) -> dict:
    sub, rg = ids.subscription, request.resource_group
    result = {
        "resource_group": f"/subscriptions/{sub}/resourceGroups/{rg}",
        "network_security_group": ids.id("network_security_group"),
        "public_ip": ids.id("public_ip"),
        "subnet": ids.subnet_id,
        "network_interface": ids.id("network_interface"),
        "virtual_machine": vm_id(sub, rg, request.name),
    }
    if not request.subnet_id:
        result["virtual_network"] = ids.id("virtual_network")
    if request.install_method is not None:
        result["extension"] = f"{result['virtual_machine']}/extensions/{request.install_method.name}"
    return result


def _diff_key(step: Step) -> str:
    return f"extension {step.name}" if step.resource == "extension" else step.resource


def common_result(plan: Plan, request: Request, ids: NetworkIds, diff: bool) -> dict:
    changed_steps = [s for s in plan.steps if s.changed]
    result = {
        "changed": bool(changed_steps),
        "resource_ids": resource_ids(request, ids),
        "changes": [
            {"resource": s.resource, "name": s.name, "action": s.action, "properties": list(s.reasons)}
            for s in changed_steps
        ],
    }
    if diff:
        result["diff"] = {
            "before": {_diff_key(s): s.before for s in changed_steps},
            "after": {_diff_key(s): s.after for s in changed_steps},
        }
    return result


def _primary_private_ip(nic: dict | None) -> str | None:
    for config in ((nic or {}).get("properties") or {}).get("ipConfigurations") or []:
        props = config.get("properties") or {}
        if props.get("primary", True):
            return props.get("privateIPAddress")
    return None


def present_result(plan: Plan, request: Request, ids: NetworkIds, current: dict, diff: bool) -> tuple[dict, list]:
    """The module's result for state=present, and the warnings to show."""
    method = request.install_method
    pip_props = (current.get("public_ip") or {}).get("properties") or {}
    fqdn = (pip_props.get("dnsSettings") or {}).get("fqdn")
    public_ip = pip_props.get("ipAddress")
    extension = current.get("extension")
    if extension is None:
        wanted = method.name.lower()
        extension = next((e for e in current.get("extensions") or [] if (e.get("name") or "").lower() == wanted), None)
    warnings = list(plan.warnings)
    if fqdn and not names_host(request.certs.server_dns_names, fqdn):
        warnings.append(
            f"server_cert has no DNS name {fqdn}: clients verifying the host name will reject the daemon; "
            "issue the server certificate for that name (docker_tls_certs hostnames)"
        )
    host = fqdn or public_ip
    result = common_result(plan, request, ids, diff)
    result.update(
        fqdn=fqdn,
        public_ip=public_ip,
        private_ip=_primary_private_ip(current.get("network_interface")),
        docker_host=f"tcp://{host}:{request.docker_port}" if host else None,
        tls_hostname=fqdn,
        vm_id=((current.get("virtual_machine") or {}).get("properties") or {}).get("vmId"),
        extension=extension_outcome(extension, method),
    )
    return result, warnings
