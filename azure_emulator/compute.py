# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft.Compute: virtual machines (instance view, power state) and VM extensions run by the VM agent.

Shapes follow Microsoft's examples (../shared/azure-rest-api/compute). Errors are Compute's: 400
``InvalidParameter`` with a ``target``, ``PropertyChangeNotAllowed``, ``PlatformImageNotFound``,
``VMExtensionProvisioningError`` for a failed extension, ``OperationNotAllowed`` while the VM is busy.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from .arm import Kind, PutContext, Resource, ResourceManager, check_tags
from .core import ArmError, Request, Response, new_id, utc_now
from .lro import SUCCEEDED, Operation, OperationFailed
from .names import check_name
from .network import NIC, check_location, check_reference, inbound_allowed
from .validation import check_admin_username, check_linux_password, check_ssh_public_key, invalid_parameter
from .vmagent import FULL_VERSIONS, HANDLER_VERSIONS, VMAgent

if TYPE_CHECKING:
    from .network import AddressPool, PublicIPAddressKind

__all__ = ["register"]

# Platform images the emulator knows: (publisher, offer, sku) lower-cased -> (osType, display name).
IMAGES = {
    ("canonical", "ubuntuserver", "16.04-lts"): ("Linux", "Ubuntu 16.04 LTS"),
    ("canonical", "ubuntuserver", "18.04-lts"): ("Linux", "Ubuntu 18.04 LTS"),
    ("canonical", "0001-com-ubuntu-server-focal", "20_04-lts"): ("Linux", "Ubuntu 20.04 LTS"),
    ("canonical", "0001-com-ubuntu-server-focal", "20_04-lts-gen2"): ("Linux", "Ubuntu 20.04 LTS"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts"): ("Linux", "Ubuntu 22.04 LTS"),
    ("canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2"): ("Linux", "Ubuntu 22.04 LTS"),
    ("canonical", "ubuntu-24_04-lts", "server"): ("Linux", "Ubuntu 24.04 LTS"),
    ("canonical", "ubuntu-24_04-lts", "server-gen1"): ("Linux", "Ubuntu 24.04 LTS"),
    ("debian", "debian-11", "11"): ("Linux", "Debian 11"),
    ("debian", "debian-11", "11-gen2"): ("Linux", "Debian 11"),
    ("debian", "debian-12", "12"): ("Linux", "Debian 12"),
    ("debian", "debian-12", "12-gen2"): ("Linux", "Debian 12"),
    ("microsoftwindowsserver", "windowsserver", "2016-datacenter"): ("Windows", "Windows Server 2016 Datacenter"),
    ("microsoftwindowsserver", "windowsserver", "2019-datacenter"): ("Windows", "Windows Server 2019 Datacenter"),
    ("microsoftwindowsserver", "windowsserver", "2022-datacenter"): ("Windows", "Windows Server 2022 Datacenter"),
}
VM_SIZES = [
    "Standard_A1_v2",
    "Standard_A2_v2",
    "Standard_B1s",
    "Standard_B1ms",
    "Standard_B2s",
    "Standard_B2ms",
    "Standard_B2ats_v2",
    "Standard_B2ls_v2",
    "Standard_B2s_v2",
    "Standard_D1_v2",
    "Standard_D2_v2",
    "Standard_D3_v2",
    "Standard_DS1_v2",
    "Standard_DS2_v2",
    "Standard_DS3_v2",
    "Standard_D2_v3",
    "Standard_D4_v3",
    "Standard_D2s_v3",
    "Standard_D4s_v3",
    "Standard_D2s_v4",
    "Standard_D2s_v5",
    "Standard_D4s_v5",
    "Standard_D2as_v5",
    "Standard_D2ds_v5",
    "Standard_D2ls_v5",
    "Standard_E2s_v5",
    "Standard_F2s_v2",
    "Standard_F4s_v2",
]
_SIZES = {s.lower(): s for s in VM_SIZES}
_STORAGE_TYPES = {
    t.lower(): t
    for t in ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS",
              "PremiumV2_LRS")
}  # fmt: skip
_IMMUTABLE = (
    ("osProfile", "adminUsername"),
    ("osProfile", "computerName"),
    ("osProfile", "linuxConfiguration", "disablePasswordAuthentication"),
    ("storageProfile", "imageReference"),
    ("storageProfile", "osDisk", "name"),
)


def _premium_capable(size: str) -> bool:
    family = size.split("_")[1] if "_" in size else size
    return "s" in family[1:].lower()


def _missing(path: str) -> ArmError:
    return invalid_parameter(f"Required parameter '{path.rsplit('.', maxsplit=1)[-1]}' is missing (null).", path)


def _dig(data: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


class ComputeKind(Kind):
    namespace = "Microsoft.Compute"
    pending_state = "Creating"

    def conflict(self, res: Resource) -> ArmError:
        return ArmError(
            409,
            "OperationNotAllowed",
            f"Operation 'PUT' is not allowed on '{res.name}' since another operation is in progress on it. Retry "
            "once the operation completes.",
        )


class VirtualMachineKind(ComputeKind):
    path = ("virtualMachines",)
    actions = ("instanceView", "start", "powerOff", "restart", "deallocate")

    def __init__(self, agent: VMAgent, public_ips: PublicIPAddressKind, pool: AddressPool) -> None:
        self.agent = agent
        self.public_ips = public_ips
        self.pool = pool

    def check_name(self, name: str) -> None:
        check_name("vm", name, self.type_name)

    # -- PUT ----------------------------------------------------------------------------------------------
    def validate(self, ctx: PutContext) -> None:
        location = check_location(ctx, self.type_name)
        props = ctx.body.get("properties")
        if not isinstance(props, dict):
            raise _missing("properties")
        size = self._size(props)
        storage, os_type = self._storage(props, size)
        nics = self._nics(ctx, props, location)
        if ctx.existing is not None:
            self._check_immutable(ctx.existing.properties, props)
            os_profile, secret = copy.deepcopy(ctx.existing.properties["osProfile"]), dict(ctx.existing.secret)
        else:
            os_profile, secret = self._os_profile(ctx, props, os_type)
        stored: dict = {"name": ctx.name, "id": ctx.id, "type": self.type_name, "location": location}
        tags = check_tags(ctx.body.get("tags"))
        if tags is not None:
            stored["tags"] = tags
        vm_id = ctx.existing.properties["vmId"] if ctx.existing else new_id()
        stored["properties"] = {
            "vmId": vm_id,
            "hardwareProfile": {"vmSize": size},
            "storageProfile": storage,
            "osProfile": os_profile,
            "networkProfile": {"networkInterfaces": nics},
        }
        for key in ("securityProfile", "diagnosticsProfile", "additionalCapabilities", "priority"):
            if props.get(key) is not None:
                stored["properties"][key] = copy.deepcopy(props[key])
        if props.get("userData") is not None:
            ctx.state["userData"] = props["userData"]  # returned only with $expand=userData
        elif ctx.existing is not None and "userData" in ctx.existing.state:
            ctx.state["userData"] = ctx.existing.state["userData"]
        if ctx.existing is not None:
            stored["properties"]["timeCreated"] = ctx.existing.properties.get("timeCreated")
        ctx.stored = stored
        ctx.secret = secret

    @staticmethod
    def _size(props: dict) -> str:
        size = _dig(props, ("hardwareProfile", "vmSize"))
        if not size:
            raise _missing("hardwareProfile.vmSize")
        canonical = _SIZES.get(str(size).lower())
        if canonical is None:
            raise invalid_parameter(
                f"The requested VM size {size} is not available in the current region. The sizes available in the "
                f"current region are: {', '.join(VM_SIZES)}.",
                "vmSize",
            )
        return canonical

    @staticmethod
    def _storage(props: dict, size: str) -> tuple[dict, str]:
        storage = props.get("storageProfile")
        if not isinstance(storage, dict):
            raise _missing("storageProfile")
        image = storage.get("imageReference")
        os_disk = dict(storage.get("osDisk") or {})
        if not isinstance(image, dict):
            raise _missing("storageProfile.imageReference")
        key = tuple(str(image.get(k, "")).lower() for k in ("publisher", "offer", "sku"))
        known = IMAGES.get(key)
        if known is None:
            shown = ":".join(str(image.get(k)) for k in ("publisher", "offer", "sku", "version"))
            raise ArmError(
                404,
                "PlatformImageNotFound",
                f"The platform image '{shown}' is not available. Verify that all fields in the storage profile are "
                "correct. For more details about storage profile information, please refer to "
                "https://aka.ms/storageprofile",
                target="imageReference",
            )
        os_type = known[0]
        create = os_disk.get("createOption")
        if not create:
            raise _missing("storageProfile.osDisk.createOption")
        if str(create).lower() != "fromimage":
            raise invalid_parameter(
                f"The value '{create}' of parameter 'osDisk.createOption' is not allowed with an image reference; "
                "use FromImage.",
                "osDisk.createOption",
            )
        managed = dict(os_disk.get("managedDisk") or {})
        account = managed.get("storageAccountType", "Premium_LRS" if _premium_capable(size) else "Standard_LRS")
        canonical = _STORAGE_TYPES.get(str(account).lower())
        if canonical is None:
            raise invalid_parameter(
                f"The value '{account}' of parameter 'storageAccountType' is not valid.",
                "osDisk.managedDisk.storageAccountType",
            )
        if canonical.startswith("Premium") and not _premium_capable(size):
            raise ArmError(
                400,
                "BadRequest",
                f"Requested operation cannot be performed because the VM size {size} does not support the storage "
                f"account type {canonical} of disk '{os_disk.get('name', 'osdisk')}'. Consider updating the VM to a "
                "size that supports Premium storage.",
            )
        managed["storageAccountType"] = canonical
        os_disk.update({"osType": os_type, "createOption": "FromImage", "managedDisk": managed})
        os_disk.setdefault("caching", "ReadWrite")
        result = {
            "imageReference": {k: image[k] for k in ("publisher", "offer", "sku", "version") if k in image},
            "osDisk": os_disk,
            "dataDisks": copy.deepcopy(storage.get("dataDisks") or []),
        }
        return result, os_type

    def _nics(self, ctx: PutContext, props: dict, location: str) -> list[dict]:
        refs = _dig(props, ("networkProfile", "networkInterfaces"))
        if not refs:
            raise invalid_parameter(
                "At least one network interface must be specified on the virtual machine.", "networkProfile"
            )
        nics = []
        for index, ref in enumerate(refs):
            nic = check_reference(
                ctx.arm, ctx.id, ref, "Microsoft.Network/networkInterfaces",
                f"properties.networkProfile.networkInterfaces[{index}].id",
            )  # fmt: skip
            if nic.body.get("location") != location:
                raise invalid_parameter(
                    f"The network interface {nic.id} is in location '{nic.body.get('location')}' but the virtual "
                    f"machine is in '{location}'. They must be in the same location.",
                    "networkProfile.networkInterfaces",
                )
            owner = nic.state.get("virtualMachine", {}).get("id", "")
            if owner and owner.lower() != ctx.id.lower():
                raise ArmError(
                    400,
                    "NicInUse",
                    f"Network Interface {nic.id} is used by existing resource {owner}. In order to use it, the "
                    "network interface must be dissociated from that resource.",
                )
            primary = (ref.get("properties") or {}).get("primary")
            entry: dict = {"id": nic.id}
            if primary is not None:
                entry["properties"] = {"primary": bool(primary)}
            nics.append(entry)
        if len(nics) > 1 and sum(1 for n in nics if n.get("properties", {}).get("primary")) != 1:
            raise invalid_parameter(
                f"Virtual machine {ctx.name} must have one network interface set as the primary.",
                "networkProfile.networkInterfaces",
            )
        return nics

    @staticmethod
    def _os_profile(ctx: PutContext, props: dict, os_type: str) -> tuple[dict, dict]:
        profile = props.get("osProfile")
        if not isinstance(profile, dict):
            raise _missing("osProfile")
        username = profile.get("adminUsername")
        secret: dict = {}
        out: dict = {"computerName": profile.get("computerName") or ctx.name[:64], "secrets": []}
        if os_type == "Windows":
            if not username:
                raise _missing("osProfile.adminUsername")
            out["adminUsername"] = username
            out["windowsConfiguration"] = copy.deepcopy(profile.get("windowsConfiguration") or {})
            out["windowsConfiguration"].setdefault("provisionVMAgent", True)
            out["windowsConfiguration"].setdefault("enableAutomaticUpdates", True)
            if profile.get("adminPassword"):
                secret["adminPassword"] = profile["adminPassword"]
            out["allowExtensionOperations"] = True
            return out, secret
        check_admin_username(username)
        out["adminUsername"] = username
        linux = copy.deepcopy(profile.get("linuxConfiguration") or {})
        keys = _dig(linux, ("ssh", "publicKeys")) or []
        password = profile.get("adminPassword")
        disable = linux.get("disablePasswordAuthentication")
        if disable is None:
            disable = password is None
        if disable and not keys:
            raise invalid_parameter(
                "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
                "linuxConfiguration",
            )
        if not disable and password is None:
            raise _missing("osProfile.adminPassword")
        if password is not None:
            if disable:
                raise invalid_parameter(
                    "Admin password cannot be specified when password authentication is disabled in Linux profile.",
                    "adminPassword",
                )
            check_linux_password(password)
            secret["adminPassword"] = password
        for key in keys:
            check_ssh_public_key(key.get("keyData"), key.get("path"), username)
        linux["disablePasswordAuthentication"] = bool(disable)
        out["linuxConfiguration"] = linux
        out["allowExtensionOperations"] = True
        if profile.get("customData") is not None:
            secret["customData"] = profile["customData"]
        return out, secret

    @staticmethod
    def _check_immutable(current: dict, props: dict) -> None:
        for path in _IMMUTABLE:
            wanted = _dig(props, path)
            if wanted is None:
                continue
            have = _dig(current, path)
            if path[-1] == "imageReference":
                have = {k: v for k, v in (have or {}).items() if k in wanted}
            if wanted != have:
                dotted = ".".join(path)
                raise ArmError(
                    409,
                    "PropertyChangeNotAllowed",
                    f"Changing property '{dotted}' is not allowed.",
                    target=dotted,
                )

    def commit(self, ctx: PutContext, res: Resource) -> None:
        res.state["arm"] = ctx.arm
        res.state.setdefault("power", "starting")
        wanted = {n["id"].lower() for n in res.properties["networkProfile"]["networkInterfaces"]}
        for nic in [r for r in ctx.arm.resources.values() if r.kind is NIC]:
            attached = nic.state.get("virtualMachine", {}).get("id", "").lower() == res.key
            if nic.key in wanted:
                refs = res.properties["networkProfile"]["networkInterfaces"]
                primary = len(refs) == 1 or any(
                    r["id"].lower() == nic.key and r.get("properties", {}).get("primary") for r in refs
                )
                NIC.attach(nic, res.id, primary)
            elif attached:
                NIC.detach(nic)

    def work(self, ctx: PutContext, res: Resource, op: Operation) -> None:
        """Boot: give the VM its addresses (Dynamic public IPs get one when the VM starts)."""
        with ctx.arm.lock:
            if ctx.arm.get(res.id) is not res:
                return
            res.state["host_ip"] = self.host_ip(ctx.arm, res)
            profile = self.guest_profile(res)
        # The guest backend boots the VM's guest here (a no-op for the fast one); Azure's create includes the boot.
        try:
            self.agent.vm_booted(res.key, res.properties["vmId"], res.state["host_ip"], profile)
        except RuntimeError as exc:
            raise OperationFailed("OSProvisioningInternalError", f"The VM's guest did not boot: {exc}") from exc

    @staticmethod
    def guest_profile(res: Resource) -> dict:
        """What provisioning hands the guest: host name, admin user, SSH keys and customData (secret)."""
        os_profile = res.properties["osProfile"]
        keys = _dig(os_profile, ("linuxConfiguration", "ssh", "publicKeys")) or []
        return {
            "computer_name": os_profile.get("computerName", res.name),
            "admin_username": os_profile.get("adminUsername", ""),
            "ssh_keys": [k.get("keyData", "") for k in keys],
            "custom_data": res.secret.get("customData"),
        }

    def finish(self, res: Resource, op: Operation) -> None:
        super().finish(res, op)
        if op.status == SUCCEEDED:
            res.state["power"] = "running"
            res.properties.setdefault("timeCreated", utc_now())
            os_disk = res.properties["storageProfile"]["osDisk"]
            os_disk.setdefault("name", f"{res.name}_OsDisk_1_{new_id().replace('-', '')}")
            os_disk["managedDisk"].setdefault(
                "id", f"{res.id.rsplit('/providers/', 1)[0]}/providers/Microsoft.Compute/disks/{os_disk['name']}"
            )
            os_disk.setdefault("diskSizeGB", 30)
            os_disk.setdefault("deleteOption", "Detach")
            disks = f"{res.id.rsplit('/providers/', 1)[0]}/providers/Microsoft.Compute/disks"
            for disk in res.properties["storageProfile"]["dataDisks"]:
                disk.setdefault("name", f"{res.name}_disk{disk.get('lun', 0)}_{new_id().replace('-', '')}")
                disk.setdefault("managedDisk", {}).setdefault("id", f"{disks}/{disk['name']}")
        res.state["etag"] = res.state.get("etag", 0) + 1

    def host_ip(self, arm: ResourceManager, res: Resource) -> str:
        """The address the VM's services listen on: its primary NIC's public IP (or a private stand-in)."""
        for ref in res.properties["networkProfile"]["networkInterfaces"]:
            nic = arm.get(ref["id"])
            if nic is None:
                continue
            for config in nic.properties.get("ipConfigurations", []):
                pip_ref = config["properties"].get("publicIPAddress")
                pip = arm.get(pip_ref["id"]) if pip_ref else None
                if pip is not None and config["properties"].get("primary"):
                    return self.public_ips.vm_started(pip, res.id)
        if "private_ip" not in res.state:
            res.state["private_ip"] = self.pool.allocate()
        return res.state["private_ip"]

    # -- GET ----------------------------------------------------------------------------------------------
    def render(self, res: Resource, request: Request) -> dict:
        body = copy.deepcopy(res.body)
        arm: ResourceManager = res.state["arm"]
        if request.method == "GET":
            body["etag"] = f'"{res.state.get("etag", 1)}"'
            extensions = arm.children(res, EXTENSION)
            if extensions:
                body["resources"] = [EXTENSION.render(e, request, expand=False) for e in extensions]
        else:
            body["properties"].pop("timeCreated", None)
        expand = request.query.get("$expand", "").lower()
        if "instanceview" in expand:
            body["properties"]["instanceView"] = self.instance_view(res)
        if "userdata" in expand and "userData" in res.state:
            body["properties"]["userData"] = res.state["userData"]
        return body

    def instance_view(self, res: Resource) -> dict:
        arm: ResourceManager = res.state["arm"]
        state = res.properties.get("provisioningState", "Creating")
        power = res.state.get("power", "starting")
        now = utc_now()
        image = res.properties["storageProfile"]["imageReference"]
        os_type, os_name = IMAGES[tuple(str(image.get(k, "")).lower() for k in ("publisher", "offer", "sku"))]
        extensions = arm.children(res, EXTENSION)
        view = {
            "platformUpdateDomain": 0,
            "platformFaultDomain": 0,
            "computerName": res.properties["osProfile"]["computerName"],
            "osName": os_name.split(" ")[0].lower() if os_type == "Linux" else os_name,
            "osVersion": os_name.split(" ", 1)[1] if " " in os_name else "",
            "vmAgent": {
                "vmAgentVersion": "2.11.1.12",
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Ready",
                        "message": "Guest Agent is running",
                        "time": now,
                    }
                ],
                "extensionHandlers": [
                    {
                        "type": f"{e.properties.get('publisher')}.{e.properties.get('type')}",
                        "typeHandlerVersion": EXTENSION.full_version(e),
                        "status": {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready"},
                    }
                    for e in extensions
                    if e.properties.get("publisher")
                ],
            },
            "disks": [
                {
                    "name": res.properties["storageProfile"]["osDisk"].get("name", "osdisk"),
                    "statuses": [
                        {
                            "code": f"ProvisioningState/{state.lower()}",
                            "level": "Info",
                            "displayStatus": f"Provisioning {state.lower()}",
                            "time": now,
                        }
                    ],
                }
            ],
            "extensions": [EXTENSION.instance_view(e) for e in extensions if e.properties.get("publisher")],
            "hyperVGeneration": "V2" if "gen2" in str(image.get("sku", "")).lower() else "V1",
            "isVMInStandbyPool": False,
            "statuses": [
                {
                    "code": f"ProvisioningState/{state.lower()}",
                    "level": "Info" if state != "Failed" else "Error",
                    "displayStatus": f"Provisioning {state.lower()}",
                    "time": now,
                },
                {"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"},
            ],
        }
        return view

    def action(self, arm: ResourceManager, res: Resource, name: str, request: Request) -> Response:
        lowered = name.lower()
        if lowered == "instanceview" and request.method == "GET":
            return Response(200, self.instance_view(res))
        if request.method != "POST" or lowered == "instanceview":
            raise ArmError(
                405, "MethodNotAllowed", f"The requested resource does not support http method '{request.method}'."
            )
        target = {"start": "running", "restart": "running", "poweroff": "stopped", "deallocate": "deallocated"}[lowered]
        op_kind = f"{self.type_name}/{lowered}/action"

        def work(_op: Operation) -> None:
            with arm.lock:
                if target == "running":
                    res.state["host_ip"] = self.host_ip(arm, res)
                elif target == "deallocated":
                    self._release_dynamic(arm, res)
                profile = self.guest_profile(res)
            try:
                self.agent.power(res.key, lowered, res.state.get("host_ip"), profile)
            except RuntimeError as exc:
                raise OperationFailed(
                    "VMAgentStatusCommunicationError", f"The VM's guest did not {lowered}: {exc}"
                ) from exc

        def on_end(op: Operation) -> None:
            if op.status == SUCCEEDED:
                res.state["power"] = target

        res.state["power"] = {"running": "starting", "stopped": "stopping", "deallocated": "deallocating"}[target]
        op = arm.start_operation(op_kind, res, "POST", work, on_end=on_end)
        return Response(202, None, arm.async_headers(self, res, op, location=True))

    def _release_dynamic(self, arm: ResourceManager, res: Resource) -> None:
        for ref in res.properties["networkProfile"]["networkInterfaces"]:
            nic = arm.get(ref["id"])
            for config in nic.properties.get("ipConfigurations", []) if nic else []:
                pip_ref = config["properties"].get("publicIPAddress")
                pip = arm.get(pip_ref["id"]) if pip_ref else None
                if pip is not None:
                    self.public_ips.vm_gone(pip)

    # -- DELETE -------------------------------------------------------------------------------------------
    def delete_work(self, res: Resource, op: Operation) -> None:
        self.agent.remove_vm(res.key)

    def removed(self, res: Resource) -> None:
        arm: ResourceManager = res.state["arm"]
        self._release_dynamic(arm, res)
        for ref in res.properties["networkProfile"]["networkInterfaces"]:
            nic = arm.get(ref["id"])
            if nic is not None and nic.state.get("virtualMachine", {}).get("id", "").lower() == res.key:
                NIC.detach(nic)
        self.pool.release(res.state.pop("private_ip", None))
        self.pool.release(res.state.pop("hidden_ip", None))
        self.agent.remove_vm(res.key)


class ExtensionKind(ComputeKind):
    path = ("virtualMachines", "extensions")

    def __init__(self) -> None:
        self.agent: VMAgent | None = None

    def check_name(self, name: str) -> None:
        check_name("extension", name, self.type_name)

    def not_found(self, arm: ResourceManager, resource_id: str, name: str, group: str) -> ArmError:
        return ArmError(404, "NotFound", "The entity was not found in this Azure location.")

    def validate(self, ctx: PutContext) -> None:
        vm = ctx.parent
        if vm.op is not None and not vm.op.finished:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'PUT' on extension '{ctx.name}' is not allowed since the virtual machine '{vm.name}' is "
                "being updated by another operation. Retry once that operation completes.",
            )
        if vm.state.get("power") in ("stopped", "deallocated"):
            raise ArmError(409, "OperationNotAllowed", "Cannot modify extensions in the VM when the VM is not running.")
        location = check_location(ctx, self.type_name)
        if location != vm.body["location"]:
            raise invalid_parameter(
                f"The extension location '{location}' must match the virtual machine's location "
                f"'{vm.body['location']}'.",
                "location",
            )
        props = ctx.body.get("properties") or {}
        stored: dict = {"name": ctx.name, "id": ctx.id, "type": self.type_name, "location": location}
        tags = check_tags(ctx.body.get("tags"))
        if tags is not None:
            stored["tags"] = tags
        public: dict = {}
        for key in ("publisher", "type", "typeHandlerVersion", "autoUpgradeMinorVersion", "enableAutomaticUpgrade",
                    "suppressFailures", "forceUpdateTag", "settings", "provisionAfterExtensions"):  # fmt: skip
            if props.get(key) is not None:
                public[key] = copy.deepcopy(props[key])
        if "settings" in public and not isinstance(public["settings"], dict):
            raise invalid_parameter("The value of parameter settings is invalid.", "settings")
        protected = props.get("protectedSettings")
        if protected is not None and not isinstance(protected, dict):
            raise invalid_parameter("The value of parameter protectedSettings is invalid.", "protectedSettings")
        if ctx.existing is not None:
            old = ctx.existing.properties
            for key in ("publisher", "type"):
                if key in public and key in old and str(public[key]).lower() != str(old[key]).lower():
                    raise ArmError(
                        409,
                        "PropertyChangeNotAllowed",
                        f"Changing property '{key}' is not allowed.",
                        target=key,
                    )
        stored["properties"] = public
        ctx.stored = stored
        ctx.secret = {"protectedSettings": copy.deepcopy(protected)} if protected is not None else {}
        if ctx.existing is not None and protected is None and "protectedSettings" in ctx.existing.secret:
            ctx.secret = dict(ctx.existing.secret)  # an update that omits protectedSettings keeps them
        ctx.state["rerun"] = ctx.existing is None or self._changed(ctx.existing, public, ctx.secret)
        fault = ctx.arm.emu.faults.take(ctx.request, ("extension",))
        if fault is not None:
            ctx.arm.emu.note_fault(ctx.request, fault)
            ctx.state["fault"] = fault.message or "Enable failed: the emulator was asked to fail this extension"
        ctx.state["arm"] = ctx.arm

    @staticmethod
    def _changed(existing: Resource, public: dict, secret: dict) -> bool:
        """New settings, protected settings, version or forceUpdateTag re-run the handler (a new goal state)."""
        old = existing.properties
        watched = ("settings", "typeHandlerVersion", "forceUpdateTag", "publisher", "type")
        if any(old.get(k) != public.get(k) for k in watched):
            return True
        return existing.secret.get("protectedSettings") != secret.get("protectedSettings")

    def work(self, ctx: PutContext, res: Resource, op: Operation) -> None:
        if not ctx.state.get("rerun") and res.state.get("outcome") is not None:
            return
        props = res.properties
        if "publisher" not in props and "type" not in props:
            res.state["outcome"] = None
            return
        vm = ctx.parent
        arm = ctx.arm
        behind = None
        with arm.lock:
            host_ip = vm.state.get("host_ip") or vm.kind.host_ip(arm, vm)
            if arm.emu.enforce_nsg and host_ip != vm.state.get("private_ip"):
                vm.state.setdefault("hidden_ip", vm.kind.pool.allocate())

                def allow(port: int) -> bool:
                    with arm.lock:
                        return arm.get(vm.id) is vm and inbound_allowed(arm, vm, arm.emu.client_address, port)

                behind = (vm.state["hidden_ip"], allow)
        res.state["started"] = utc_now()
        version_ok = self._version_known(props)
        if ctx.state.get("fault"):
            outcome_ok, message = False, ctx.state["fault"]
        elif not version_ok:
            outcome_ok, message = (
                False,
                (
                    f"Extension '{props.get('publisher')}.{props.get('type')}' version "
                    f"'{props.get('typeHandlerVersion')}' is not available in the extension repository"
                ),
            )
        else:
            outcome = self.agent.enable(
                vm.key,
                vm.properties["vmId"],
                host_ip,
                ext_key=res.key,
                ext=props,
                protected=res.secret.get("protectedSettings") or {},
                behind=behind,
            )
            outcome_ok, message = outcome.ok, outcome.message
        res.state["outcome"] = {"ok": outcome_ok, "message": message, "time": utc_now()}
        if not outcome_ok and not props.get("suppressFailures"):
            raise OperationFailed(
                "VMExtensionProvisioningError",
                f"VM has reported a failure when processing extension '{res.name}' (publisher "
                f"'{props.get('publisher')}' and type '{props.get('type')}'). Error message: '{message}'. More "
                "information on troubleshooting is available at https://aka.ms/VMExtensionCSELinuxTroubleshoot.",
            )

    @staticmethod
    def _version_known(props: dict) -> bool:
        kind = (str(props.get("publisher", "")).lower(), str(props.get("type", "")).lower())
        versions = HANDLER_VERSIONS.get(kind)
        if versions is None:
            return False
        wanted = str(props.get("typeHandlerVersion", versions[-1]))
        return any(wanted == v or wanted.startswith(v + ".") for v in versions) or (
            bool(props.get("autoUpgradeMinorVersion"))
            and wanted.split(".", maxsplit=1)[0] == versions[-1].split(".")[0]
        )

    def full_version(self, res: Resource) -> str:
        kind = (str(res.properties.get("publisher", "")).lower(), str(res.properties.get("type", "")).lower())
        return FULL_VERSIONS.get(kind, str(res.properties.get("typeHandlerVersion", "")))

    def instance_view(self, res: Resource) -> dict:
        outcome = res.state.get("outcome")
        state = res.properties.get("provisioningState", "Creating")
        if outcome is None:
            status = {
                "code": f"ProvisioningState/{state.lower()}",
                "level": "Info",
                "displayStatus": f"Provisioning {state.lower()}",
            }
        elif outcome["ok"]:
            status = {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": outcome["message"],
                "time": outcome["time"],
            }
        else:
            status = {
                "code": "ProvisioningState/failed/1",
                "level": "Error",
                "displayStatus": "Provisioning failed",
                "message": outcome["message"],
                "time": outcome["time"],
            }
        return {
            "name": res.name,
            "type": f"{res.properties.get('publisher')}.{res.properties.get('type')}",
            "typeHandlerVersion": self.full_version(res),
            "statuses": [status],
        }

    def render(self, res: Resource, request: Request, expand: bool | None = None) -> dict:
        body = copy.deepcopy(res.body)  # protectedSettings live in res.secret and are never returned
        if expand is None:
            expand = "instanceview" in request.query.get("$expand", "").lower()
        if expand and res.properties.get("publisher"):
            body["properties"]["instanceView"] = self.instance_view(res)
        return body

    def delete_work(self, res: Resource, op: Operation) -> None:
        if self.agent is not None and res.parent is not None:
            self.agent.remove_extension(res.parent, res.key)

    def removed(self, res: Resource) -> None:
        if self.agent is not None and res.parent is not None:
            self.agent.remove_extension(res.parent, res.key)


EXTENSION = ExtensionKind()


def register(arm: ResourceManager, agent: VMAgent, public_ips: PublicIPAddressKind, pool: AddressPool) -> None:
    EXTENSION.agent = agent
    arm.register(VirtualMachineKind(agent, public_ips, pool))
    arm.register(EXTENSION)
