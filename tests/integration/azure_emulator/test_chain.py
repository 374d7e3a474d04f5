# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole chain with the real SDK clients: create, read back, extension with a real daemon, delete."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import subprocess
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from ansible_collections.dockerhost.azure.azure_emulator.client import EmulatorClient
from ansible_collections.dockerhost.azure.azure_emulator.dockerd import leftover_processes
from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA

pytestmark = [pytest.mark.emulator, pytest.mark.docker]

LOCATION = "westeurope"
SSH_KEY_PATH = "/home/dockeradmin/.ssh/authorized_keys"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _peer_certificate(host: str, port: int, ca: str, cert: str, key: str, *, server_name: str) -> bytes:
    """Mutual TLS handshake; returns the DER certificate the daemon presented."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.getpeercert(binary_form=True)


def _docker_version(
    host: str, port: int, ca: str, cert: str, key: str, *, config_dir: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "--tlsverify", f"--tlscacert={ca}", f"--tlscert={cert}", f"--tlskey={key}",
         "-H", f"tcp://{host}:{port}", "version", "--format", "{{.Server.APIVersion}}"],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "DOCKER_CONFIG": config_dir},
    )  # fmt: skip


def test_whole_chain_create_read_delete(azure_emulator, test_ca, tmp_path):
    rc, nc, cc = azure_emulator.resource_client(), azure_emulator.network_client(), azure_emulator.compute_client()
    rc.resource_groups.create_or_update("docker-rg", {"location": LOCATION})
    subnet = {"name": "default", "properties": {"addressPrefix": "10.20.1.0/24"}}
    space = {"addressPrefixes": ["10.20.0.0/16"]}
    vnet = nc.virtual_networks.begin_create_or_update(
        "docker-rg", "docker-vnet", {"location": LOCATION, "properties": {"addressSpace": space, "subnets": [subnet]}}
    ).result()
    rule = {
        "name": "docker-tls", "properties": {
            "protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 1000,
            "sourceAddressPrefix": "198.51.100.0/24", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "2376"},
    }  # fmt: skip
    nsg = nc.network_security_groups.begin_create_or_update(
        "docker-rg", "docker-nsg", {"location": LOCATION, "properties": {"securityRules": [rule]}}
    ).result()
    pip = nc.public_ip_addresses.begin_create_or_update(
        "docker-rg", "docker-ip",
        {"location": LOCATION, "sku": {"name": "Standard"},
         "properties": {"publicIPAllocationMethod": "Static", "dnsSettings": {"domainNameLabel": "dockerhost-chain"}}},
    ).result()  # fmt: skip
    assert pip.ip_address.startswith("127.0.")
    fqdn = f"dockerhost-chain.{LOCATION}.cloudapp.azure.com"
    assert pip.dns_settings.fqdn == fqdn
    nic = nc.network_interfaces.begin_create_or_update(
        "docker-rg", "docker-nic",
        {"location": LOCATION, "properties": {
            "networkSecurityGroup": {"id": nsg.id},
            "ipConfigurations": [{"name": "ipconfig1", "properties": {
                "subnet": {"id": vnet.subnets[0].id}, "publicIPAddress": {"id": pip.id}}}]}},
    ).result()  # fmt: skip
    assert nic.ip_configurations[0].private_ip_address == "10.20.1.4"
    poller = cc.virtual_machines.begin_create_or_update(
        "docker-rg", "docker-vm",
        {"location": LOCATION, "properties": {
            "hardwareProfile": {"vmSize": "Standard_B2s"},
            "storageProfile": {"imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts",
                                                  "sku": "server", "version": "latest"},
                               "osDisk": {"createOption": "FromImage"}},
            "osProfile": {"computerName": "docker-vm", "adminUsername": "dockeradmin",
                          "adminPassword": "Canary-Pa55word!",
                          "linuxConfiguration": {"disablePasswordAuthentication": False}},
            "networkProfile": {"networkInterfaces": [{"id": nic.id}]}}},
    )  # fmt: skip
    vm = poller.result()
    assert vm.provisioning_state == "Succeeded"

    # Read everything back.
    assert rc.resource_groups.get("DOCKER-RG").location == LOCATION
    assert nc.virtual_networks.get("docker-rg", "docker-vnet").subnets[0].ip_configurations[0].id.endswith("ipconfig1")
    assert [r.name for r in nc.network_security_groups.get("docker-rg", "docker-nsg").security_rules] == ["docker-tls"]
    assert nc.public_ip_addresses.get("docker-rg", "docker-ip").ip_configuration.id.endswith("/ipconfig1")
    assert nc.network_interfaces.get("docker-rg", "docker-nic").virtual_machine.id == vm.id
    got = cc.virtual_machines.get("docker-rg", "docker-vm", expand="instanceView")
    assert got.os_profile.admin_password is None
    assert [s.code for s in got.instance_view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    assert [v.name for v in cc.virtual_machines.list("docker-rg")] == ["docker-vm"]

    # DockerExtension with the test CA's certificates: a real daemon on the public IP, mutual TLS only.
    server = test_ca.server("server", dns_names=(fqdn,), ip_addresses=(pip.ip_address,))
    client = test_ca.client()
    protected = {"certs": {"ca": base64.b64encode(_read(test_ca.cert_path).encode()).decode(),
                           "cert": _read(server.cert), "key": _read(server.key)}}  # fmt: skip
    ext = cc.virtual_machine_extensions.begin_create_or_update(
        "docker-rg", "docker-vm", "DockerExtension",
        {"location": LOCATION, "properties": {
            "publisher": "Microsoft.Azure.Extensions", "type": "DockerExtension", "typeHandlerVersion": "1.2",
            "autoUpgradeMinorVersion": True, "settings": {"docker": {"port": "2376"}},
            "protectedSettings": protected}},
    ).result()  # fmt: skip
    assert ext.provisioning_state == "Succeeded"
    assert ext.protected_settings is None
    viewed = cc.virtual_machine_extensions.get("docker-rg", "docker-vm", "DockerExtension", expand="instanceView")
    assert viewed.protected_settings is None
    assert viewed.instance_view.statuses[0].code == "ProvisioningState/succeeded"
    presented = _peer_certificate(pip.ip_address, 2376, test_ca.cert_path, client.cert, client.key, server_name=fqdn)
    with open(server.cert, "rb") as handle:
        sent = ssl.PEM_cert_to_DER_cert(handle.read().decode())
    assert hashlib.sha256(presented).digest() == hashlib.sha256(sent).digest()
    version = _docker_version(
        pip.ip_address, 2376, test_ca.cert_path, client.cert, client.key, config_dir=str(tmp_path / "d")
    )
    assert version.returncode == 0, version.stderr
    stranger = TestCA(str(tmp_path / "other"), name="Other CA").client("stranger")
    refused = _docker_version(
        pip.ip_address, 2376, test_ca.cert_path, stranger.cert, stranger.key, config_dir=str(tmp_path / "d")
    )
    assert refused.returncode != 0

    # The secrets went only where they belong: the request log has them as sent, no response carries them.
    log = azure_emulator.requests()
    ext_put = next(e for e in log if e["method"] == "PUT" and e["path"].endswith("/extensions/DockerExtension"))
    assert ext_put["body"]["properties"]["protectedSettings"] == protected
    assert "certs" not in str(ext_put["body"]["properties"]["settings"])

    # Delete in dependency order; Azure refuses the wrong order.
    with pytest.raises(HttpResponseError) as excinfo:
        nc.network_interfaces.begin_delete("docker-rg", "docker-nic").result()
    assert excinfo.value.error.code == "NicInUse"
    daemon_pid = azure_emulator.vms()[0]["daemon"]["pid"]
    cc.virtual_machines.begin_delete("docker-rg", "docker-vm").result()
    assert azure_emulator.vms() == []
    assert not os.path.exists(f"/proc/{daemon_pid}") or _zombie(daemon_pid)
    with pytest.raises(OSError):
        socket.create_connection((pip.ip_address, 2376), timeout=2).close()
    nc.network_interfaces.begin_delete("docker-rg", "docker-nic").result()
    nc.public_ip_addresses.begin_delete("docker-rg", "docker-ip").result()
    nc.network_security_groups.begin_delete("docker-rg", "docker-nsg").result()
    nc.virtual_networks.begin_delete("docker-rg", "docker-vnet").result()
    rc.resource_groups.begin_delete("docker-rg").result()
    with pytest.raises(ResourceNotFoundError):
        rc.resource_groups.get("docker-rg")
    assert leftover_processes(os.path.join(azure_emulator.state_dir, "vms")) == []


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_deleting_the_group_stops_its_daemons(azure_emulator, arm, test_ca):
    arm.group("rg")
    _vnet, pip, _nsg, nic = arm.network_for_vm("rg")
    arm.vm("rg", "vm", nic["id"])
    server = test_ca.server("server", ip_addresses=(pip["properties"]["ipAddress"],))
    body = {
        "location": "eastus",
        "properties": {
            "publisher": "Microsoft.Azure.Extensions", "type": "DockerExtension", "typeHandlerVersion": "1.2",
            "settings": {"docker": {"port": 4243}},
            "protectedSettings": {"certs": {"ca": _read(test_ca.cert_path), "cert": _read(server.cert),
                                            "key": _read(server.key)}},
        },
    }  # fmt: skip
    arm.put("resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/docker", body, "compute")
    address = (pip["properties"]["ipAddress"], 4243)
    socket.create_connection(address, timeout=5).close()
    azure_emulator.resource_client().resource_groups.begin_delete("rg").result()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(address, timeout=1).close()
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the daemon still listens after its resource group was deleted")
    assert azure_emulator.vms() == []


def test_stop_ends_every_daemon_and_removes_everything(tmp_path, test_ca, monkeypatch, arm_for):
    state_dir = tmp_path / "emu"
    emulator = EmulatorClient.start(str(state_dir))
    try:
        emulator.use_ca_bundle(monkeypatch)
        arm = arm_for(emulator)
        arm.group("rg")
        _vnet, pip, _nsg, nic = arm.network_for_vm("rg")
        arm.vm("rg", "vm", nic["id"])
        server = test_ca.server("server", ip_addresses=(pip["properties"]["ipAddress"],))
        body = {"location": "eastus", "properties": {
            "publisher": "Microsoft.Azure.Extensions", "type": "DockerExtension", "typeHandlerVersion": "1.2",
            "protectedSettings": {"certs": {"ca": _read(test_ca.cert_path), "cert": _read(server.cert),
                                            "key": _read(server.key)}}}}  # fmt: skip
        arm.put("resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/d", body, "compute")
        daemon = emulator.vms()[0]["daemon"]
        assert leftover_processes(str(state_dir / "vms"))
    finally:
        emulator.stop()
    assert not state_dir.exists()
    assert leftover_processes(str(state_dir)) == []
    assert not os.path.exists(daemon["listen"][1][len("unix://") :].rsplit("/", 1)[0])  # its exec root is gone
