# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator holds 20 VMs, each with a real daemon, and leaves nothing behind."""

from __future__ import annotations

import os
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import leftover_processes

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

VMS = 20


def _ping(ip: str, ca: str, cert: str, key: str) -> bytes:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    with socket.create_connection((ip, 2376), timeout=20) as raw, ctx.wrap_socket(raw, server_hostname=ip) as tls:
        tls.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return tls.recv(1024)


def test_twenty_vms_with_daemons(azure_emulator, arm, test_ca):
    arm.group("rg")
    vnet = arm.vnet("rg", "vnet", "10.0.0.0/16", {"default": "10.0.0.0/24"})
    ips = []
    for index in range(VMS):
        pip = arm.public_ip("rg", f"ip{index}", publicIPAllocationMethod="Static")
        nic = arm.nic("rg", f"nic{index}", vnet["properties"]["subnets"][0]["id"], pip_id=pip["id"])
        assert arm.call("PUT", f"resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm{index}",
                        arm.vm_body(nic["id"]), "2026-04-01").status_code == 201  # fmt: skip
        ips.append(pip["properties"]["ipAddress"])
    assert len(set(ips)) == VMS
    assert azure_emulator.wait_idle()
    server = test_ca.server("server", ip_addresses=tuple(ips))
    client = test_ca.client()
    with open(test_ca.cert_path, encoding="utf-8") as ca, open(server.cert, encoding="utf-8") as cert:
        certs = {"ca": ca.read(), "cert": cert.read()}
    with open(server.key, encoding="utf-8") as key:
        certs["key"] = key.read()
    body = {"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "DockerExtension", "typeHandlerVersion": "1.2",
        "settings": {"docker": {"port": "2376"}}, "protectedSettings": {"certs": certs}}}  # fmt: skip
    for index in range(VMS):
        path = f"resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm{index}/extensions/docker"
        assert arm.call("PUT", path, body, "2026-04-01").status_code == 201
    assert azure_emulator.wait_idle(timeout=600)
    states = arm.call("GET", "resourceGroups/rg/providers/Microsoft.Compute/virtualMachines", api_version="2026-04-01")
    assert len(states.json()["value"]) == VMS
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda ip: _ping(ip, test_ca.cert_path, client.cert, client.key), ips))
    assert all(a.startswith(b"HTTP/1.0 200") for a in answers), answers
    assert len(azure_emulator.vms()) == VMS
    azure_emulator.resource_client().resource_groups.begin_delete("rg").result()
    assert azure_emulator.vms() == []
    assert leftover_processes(os.path.join(azure_emulator.state_dir, "vms")) == []
