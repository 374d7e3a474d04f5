# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opt-in NSG enforcement: the daemon on a public IP is only reachable when the VM's NSGs let the client in."""

from __future__ import annotations

import socket
import ssl

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.docker]

RULES = "resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/vm-nsg/securityRules"


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _reachable(test_ca, ip: str, port: int = 2376) -> bool:
    client = test_ca.client()
    ctx = ssl.create_default_context(cafile=test_ca.cert_path)
    ctx.load_cert_chain(client.cert, client.key)
    try:
        with socket.create_connection((ip, port), timeout=2) as raw, ctx.wrap_socket(raw, server_hostname=ip) as tls:
            tls.settimeout(2)
            tls.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return tls.recv(1024).startswith(b"HTTP/1.0 200")
    except (TimeoutError, OSError):
        return False


def _rule(source: str, priority: int = 1000, port: str = "2376", access: str = "Allow") -> dict:
    return {"properties": {"protocol": "Tcp", "access": access, "direction": "Inbound", "priority": priority,
                           "sourceAddressPrefix": source, "sourcePortRange": "*",
                           "destinationAddressPrefix": "*", "destinationPortRange": port}}  # fmt: skip


def test_nsg_rules_decide_who_reaches_the_daemon(azure_emulator, arm, test_ca):
    assert azure_emulator.set_network(enforce_nsg=True) == {"enforce_nsg": True, "client_address": "203.0.113.10"}
    arm.group("rg")
    _vnet, pip, _nsg, nic = arm.network_for_vm("rg")
    arm.vm("rg", "vm", nic["id"])
    ip = pip["properties"]["ipAddress"]
    server = test_ca.server("server", ip_addresses=(ip,))
    body = {"location": "eastus", "properties": {
        "publisher": "Microsoft.Azure.Extensions", "type": "DockerExtension", "typeHandlerVersion": "1.2",
        "protectedSettings": {"certs": {"ca": _read(test_ca.cert_path), "cert": _read(server.cert),
                                        "key": _read(server.key)}}}}  # fmt: skip
    arm.put("resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/docker", body, "compute")
    assert not _reachable(test_ca, ip)  # DenyAllInBound
    arm.put(f"{RULES}/docker", _rule("198.51.100.0/24"), "network")
    assert not _reachable(test_ca, ip)  # another network's clients only
    arm.put(f"{RULES}/docker", _rule("203.0.113.0/24"), "network")
    assert _reachable(test_ca, ip)
    arm.put(f"{RULES}/deny-first", _rule("*", priority=900, access="Deny"), "network")
    assert not _reachable(test_ca, ip)  # a lower priority number wins
    azure_emulator.set_network(client_address="198.51.100.7")
    arm.call("DELETE", f"{RULES}/deny-first", api_version="2026-03-01")
    assert azure_emulator.wait_idle()
    assert not _reachable(test_ca, ip)  # the client now comes from elsewhere
    arm.put(f"{RULES}/docker", _rule("Internet"), "network")
    assert _reachable(test_ca, ip)
