# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From nothing to a Docker host that demands mutual TLS, then idempotence, rotation, tags, check mode, removal.

Each scenario is one test because its steps build on each other (as a user's runs do); each step is one
ansible-playbook run against the emulator, and the emulator's request log is the witness of what was sent.
"""

from __future__ import annotations

import json
import ssl

import pytest

from ansible_collections.dockerhost.azure.tests.integration.azure_docker_vm.conftest import LOCATION, fqdn

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

# One GET per resource: group, security group, public IP, virtual network, NIC, VM, the VM's extensions.
NOOP_READS = 7


def served_certificate(ip: str, port: int) -> bytes:
    """The certificate the daemon presents (no client certificate: the handshake is all we need)."""
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((ip, port), timeout=20))


def der(path: str) -> bytes:
    with open(path, encoding="ascii") as handle:
        return ssl.PEM_cert_to_DER_cert(handle.read())


def raw(pipeline_response, _deserialized, _headers):
    """``cls=`` for SDK calls: the REST body as Azure sent it (``.text()``: every azure-core release has it)."""
    return json.loads(pipeline_response.http_response.text())


def rules_and_subnets(resource: dict) -> dict:
    """The parts of a security group / virtual network a tag change must leave alone."""
    props = resource["properties"]
    rules = {
        r["name"]: {k: v for k, v in r["properties"].items() if k != "provisioningState"}
        for r in props.get("securityRules", [])
    }
    subnets = {s["name"]: s["properties"]["addressPrefix"] for s in props.get("subnets", [])}
    return {"rules": rules, "subnets": subnets, "address_space": props.get("addressSpace")}


def test_custom_script_from_nothing_to_removal(host):
    name = "dh-cs"
    first_pair = host.server_cert(name)
    args = host.args(name, first_pair)

    # -- from nothing: diff mode on, then the probe reaches the daemon by IP, verifying the FQDN ------------
    created, probe = host.run(
        host.task(args, diff=True),
        host.probe_task(ip="{{ r0.public_ip }}", port=2376, tls_hostname="{{ r0.tls_hostname }}"),
    ).results
    assert created["changed"] is True, created
    assert created["fqdn"] == created["tls_hostname"] == fqdn(name)
    assert created["docker_host"] == f"tcp://{fqdn(name)}:2376"
    assert created["private_ip"].startswith("10.0.0.")
    assert created["vm_id"]
    assert created["extension"]["provisioning_state"] == "Succeeded"
    assert created["extension"]["type"] == "Microsoft.Azure.Extensions.CustomScript"
    kinds = [c["resource"] for c in created["changes"]]
    assert kinds == [
        "resource_group",
        "network_security_group",
        "public_ip",
        "virtual_network",
        "network_interface",
        "virtual_machine",
        "extension",
    ]
    assert {c["action"] for c in created["changes"]} == {"create"}
    assert created["diff"]["before"]["virtual_machine"] is None
    assert created["diff"]["after"]["virtual_machine"]["admin_username"] == "azureuser"
    assert not probe.get("failed"), probe
    assert probe["ping"] == "OK"
    assert probe["version"]["ApiVersion"] >= "1.41"
    ip = created["public_ip"]
    assert served_certificate(ip, 2376) == der(first_pair.cert)

    # The independent network resources were created concurrently: all three PUTs before any of them finished.
    log = host.requests()
    puts = [r for r in log if r["method"] == "PUT"]
    order = [r["path"].rsplit("/", 2)[-2] for r in puts]
    assert order[:1] == ["resourcegroups"]
    assert set(order[1:4]) == {"networkSecurityGroups", "publicIPAddresses", "virtualNetworks"}
    assert order[4:] == ["networkInterfaces", "virtualMachines", "extensions"]

    # -- idempotence: nothing changes and nothing is written, one GET per resource ------------------------
    host.emulator.clear_requests()
    (again,) = host.run(host.task(args)).results
    assert again["changed"] is False, again["changes"]
    assert host.writes() == []
    arm_reads = [r for r in host.requests() if r["path"].lower().startswith("/subscriptions/")]
    assert len(arm_reads) == NOOP_READS, [r["path"] for r in arm_reads]

    # -- rotating the server certificate re-runs the extension and nothing else --------------------------
    rotated = host.server_cert(name, ip)  # now also names the IP, so the docker CLI can verify it
    host.emulator.clear_requests()
    (rotation,) = host.run(host.task(dict(args, server_cert=rotated.cert, server_key=rotated.key))).results
    assert rotation["changed"] is True
    assert [(c["resource"], c["action"], c["properties"]) for c in rotation["changes"]] == [
        ("extension", "update", ["fingerprints"])
    ]
    writes = host.writes()
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in writes] == [("PUT", "docker-install")]
    assert served_certificate(ip, 2376) == der(rotated.cert)

    # The docker CLI, verifying the daemon's certificate, with the client pair; and refused without it.
    version = host.docker(ip, 2376, "version", "--format", "{{.Server.APIVersion}}")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() >= "1.41"
    stranger = host.pki.server("not-a-client")  # right CA, but a server certificate: no clientAuth
    refused = host.docker(ip, 2376, "version", client=stranger)
    assert refused.returncode != 0

    # -- tags: only tags change, on each resource, and the extension does not re-run --------------------
    args = dict(args, server_cert=rotated.cert, server_key=rotated.key)
    network = host.emulator.network_client()
    before = {
        "networkSecurityGroups": network.network_security_groups.get(f"rg-{name}", f"{name}-nsg", cls=raw),
        "virtualNetworks": network.virtual_networks.get(f"rg-{name}", f"{name}-vnet", cls=raw),
    }
    host.emulator.clear_requests()
    (tagged,) = host.run(host.task(dict(args, tags={"env": "test"}))).results
    assert tagged["changed"] is True
    assert {c["resource"] for c in tagged["changes"]} == {
        "network_security_group",
        "public_ip",
        "virtual_network",
        "network_interface",
        "virtual_machine",
    }
    assert all(c["properties"] == ["tags"] for c in tagged["changes"])
    writes = host.writes()
    assert all(w["method"] == "PUT" for w in writes)
    assert not any("/extensions/" in w["path"] for w in writes)
    for write in writes:
        assert write["body"]["tags"] == {"env": "test", "dockerhost-azure-vm": name}
    # Everything but the tags goes back as it was read (GET-modify-PUT).
    bodies = {w["path"].rsplit("/", 2)[-2]: w["body"] for w in writes}
    for kind, read in before.items():
        assert rules_and_subnets(bodies[kind]) == rules_and_subnets(read), kind

    # -- check mode: reports the change, shows the diff, sends no write -------------------------------------
    host.emulator.clear_requests()
    (checked,) = host.run(host.task(dict(args, tags={"env": "prod"}), check_mode=True, diff=True)).results
    assert checked["changed"] is True
    assert checked["diff"]["before"]["virtual_machine"]["tags"]["env"] == "test"
    assert checked["diff"]["after"]["virtual_machine"]["tags"]["env"] == "prod"
    assert host.writes() == []

    # -- removal: exactly what the module created --------------------------------------------------------------
    foreign = network.network_security_groups.begin_create_or_update(
        f"rg-{name}", "someone-elses-nsg", {"location": LOCATION}
    ).result()
    host.emulator.clear_requests()
    removed, removed_again = host.run(
        host.task({"resource_group": f"rg-{name}", "name": name, "state": "absent"}),
        host.task({"resource_group": f"rg-{name}", "name": name, "state": "absent"}),
    ).results
    assert removed["changed"] is True, removed
    assert {c["resource"] for c in removed["changes"]} == {
        "virtual_machine",
        "network_interface",
        "network_security_group",
        "public_ip",
        "virtual_network",
    }
    deleted = sorted(w["path"].rsplit("/", 1)[-1] for w in host.writes() if w["method"] == "DELETE")
    assert deleted == sorted([name, f"{name}-nic", f"{name}-nsg", f"{name}-ip", f"{name}-vnet"])
    assert removed_again["changed"] is False
    left = [r.name for r in host.emulator.resource_client().resources.list_by_resource_group(f"rg-{name}")]
    assert left == [foreign.name]
    assert host.emulator.resource_client().resource_groups.check_existence(f"rg-{name}")
    assert host.emulator.vms() == []  # the daemon went with its VM


def test_docker_extension_on_an_existing_subnet(host):
    """The 2014 extension, its port, an existing subnet, the NSG keeping others out; then switching to
    custom_script; absent keeps the subnet."""
    name = "dh-de"
    # The emulator's gate judges clients by this address against the NSG, as Azure would.
    host.emulator.set_network(enforce_nsg=True, client_address="203.0.113.7")
    group = f"rg-{name}"
    resources = host.emulator.resource_client()
    resources.resource_groups.create_or_update(group, {"location": LOCATION})
    network = host.emulator.network_client()
    vnet = network.virtual_networks.begin_create_or_update(
        group,
        "shared-vnet",
        {
            "location": LOCATION,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.50.0.0/16"]},
                "subnets": [{"name": "apps", "properties": {"addressPrefix": "10.50.1.0/24"}}],
            },
        },
    ).result()
    subnet_id = vnet.subnets[0].id
    pair = host.server_cert(name)
    args = host.args(name, pair, docker_install="docker_extension", docker_port=4243, subnet_id=subnet_id)

    created, probe, again = host.run(
        host.task(args),
        host.probe_task(ip="{{ r0.public_ip }}", port=4243, tls_hostname="{{ r0.tls_hostname }}"),
        host.task(args),
    ).results
    assert created["changed"] is True, created
    assert "virtual_network" not in [c["resource"] for c in created["changes"]]
    assert created["resource_ids"]["subnet"] == subnet_id
    assert created["private_ip"].startswith("10.50.1.")
    assert created["extension"]["type"] == "Microsoft.Azure.Extensions.DockerExtension"
    assert not probe.get("failed"), probe
    assert probe["ping"] == "OK"
    assert again["changed"] is False, again["changes"]
    extension_put = next(r for r in host.requests() if r["method"] == "PUT" and "/extensions/" in r["path"])
    assert extension_put["body"]["properties"]["settings"] == {"docker": {"port": "4243"}}

    # A client outside allowed_cidrs does not even reach the daemon.
    host.emulator.set_network(client_address="198.51.100.9")
    (outsider,) = host.run(
        host.probe_task(
            ip=created["public_ip"], port=4243, tls_hostname=created["tls_hostname"], wait_timeout=0, timeout=3
        )
    ).results
    assert outsider["failed"]
    assert outsider["error_kind"] == "timeout", outsider
    host.emulator.set_network(client_address="203.0.113.7")

    # Switching to custom_script: the DockerExtension goes, the install script configures the daemon.
    host.emulator.clear_requests()
    switched, probe = host.run(
        host.task(dict(args, docker_install="custom_script")),
        host.probe_task(ip="{{ r0.public_ip }}", port=4243, tls_hostname="{{ r0.tls_hostname }}"),
    ).results
    assert [(c["name"], c["action"]) for c in switched["changes"]] == [
        ("DockerExtension", "delete"),
        ("docker-install", "create"),
    ]
    assert not probe.get("failed"), probe

    (removed,) = host.run(host.task({"resource_group": group, "name": name, "state": "absent"})).results
    assert removed["changed"] is True
    left = sorted(r.name for r in resources.resources.list_by_resource_group(group))
    assert left == ["shared-vnet"]
    assert json.dumps(network.subnets.get(group, "shared-vnet", "apps").as_dict())  # still there


def test_check_mode_from_nothing_sends_no_write(host):
    pair = host.server_cert("dh-check")
    (checked,) = host.run(host.task(host.args("dh-check", pair), check_mode=True, diff=True)).results
    assert checked["changed"] is True
    assert {c["action"] for c in checked["changes"]} == {"create"}
    assert checked["fqdn"] is None
    assert checked["diff"]["after"]["network_security_group"]["security_rules"]["dockerhost-docker-tls"]["sources"] == [
        "10.20.0.0/16",
        "203.0.113.7/32",
    ]
    assert host.writes() == []
    # Only the resource group was read: it does not exist, so neither does anything in it.
    assert [r["method"] for r in host.requests() if r["path"].startswith("/subscriptions/")] == ["GET"]


def test_a_size_in_other_case_converges(host):
    """Issue 13 item 8: vm_size standard_b2s sent a VM PUT every run (Azure answers Standard_B2s)."""
    name = "dh-size"
    args = host.args(name, host.server_cert(name), vm_size="standard_b2s")
    (created,) = host.run(host.task(args)).results
    assert not created.get("failed"), created
    host.emulator.clear_requests()
    (again,) = host.run(host.task(args)).results
    assert again["changed"] is False, again["changes"]
    assert host.writes() == []
