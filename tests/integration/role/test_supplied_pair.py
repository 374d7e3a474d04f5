# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12 items 3 and 4: a throw-away control node (AWX job, CI runner) holds no ~/.docker. The CA and the
client pair arrive as PEM contents in variables (here ``-e @file``, as an AWX credential injects extra vars);
the role uses them from a private temporary directory that is gone after the run, also after a failure, and
no key appears in ``-vvv`` output. The probe entry point answers on such a node given an address, and says
what to set without one."""

from __future__ import annotations

import re

import pytest
import yaml

from ansible_collections.dockerhost.azure.tests.integration.role.jobs import (
    CREDENTIAL_TYPE,
    FIELDS,
    FQDN,
    PROBE,
    ROOT,
    assert_nothing_left,
    inject,
)

pytestmark = [pytest.mark.emulator]


def test_credential_type_injects_the_role_variables_and_hides_the_keys():
    credential_type = yaml.safe_load(CREDENTIAL_TYPE.read_text())
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    assert set(fields) == set(FIELDS)
    assert all(field["multiline"] for field in fields.values())
    assert [name for name, field in fields.items() if field.get("secret")] == ["ca_key", "client_key"]
    assert credential_type["inputs"]["required"] == ["ca_cert", "client_cert", "client_key"]
    specs = yaml.safe_load((ROOT / "roles" / "docker_host" / "meta" / "argument_specs.yml").read_text())
    injected = inject({name: f"<{name}>" for name in FIELDS})
    for entry in ("main", "probe"):
        options = specs["argument_specs"][entry]["options"]
        assert all(options[name]["no_log"] for name in injected), entry
    assert sorted(injected.values()) == sorted(f"<{name}>" for name in FIELDS)


def test_probe_without_an_address_says_what_to_set(node):
    proc = node(PROBE, "docker_host_probe_wait_timeout=0")
    assert proc.returncode != 0
    assert "no address known" in proc.stdout and "docker_host_probe_address" in proc.stdout, proc.stdout[-3000:]
    assert "docker_host_location" in proc.stdout
    assert_nothing_left(node, proc)


def test_probe_uses_the_fqdn_from_the_location(node):
    """No record and no address: the FQDN is where it connects (it does not resolve here: a DNS failure)."""
    proc = node(PROBE, '{"docker_host_location": "West Europe"}', "docker_host_probe_wait_timeout=0")
    assert proc.returncode != 0
    assert f"tcp://{FQDN}:2376" in proc.stdout, proc.stdout[-3000:]
    assert_nothing_left(node, proc)


@pytest.mark.parametrize(
    ("dropped", "named"),
    [("docker_host_client_key_pem", "docker_host_client_key_pem is empty"), (None, "is no PEM text")],
)
def test_an_incomplete_pair_fails_naming_the_variable(node, tmp_path, dropped, named):
    pems = yaml.safe_load((tmp_path / "pems.yml").read_text())
    if dropped:
        pems[dropped] = ""
    else:
        pems["docker_host_ca_cert_pem"] = str(node.vault / "ca.pem")  # a path, not the contents
    (tmp_path / "pems.yml").write_text(yaml.safe_dump(pems))
    proc = node(PROBE, "docker_host_probe_address=127.0.0.1")
    assert proc.returncode != 0
    assert named in proc.stdout, proc.stdout[-3000:]
    assert_nothing_left(node, proc)


def test_a_failed_probe_removes_the_private_directory(node):
    proc = node(PROBE, "docker_host_probe_address=127.0.0.1", "docker_host_port=9", "docker_host_probe_wait_timeout=0")
    assert proc.returncode != 0
    assert "tcp://127.0.0.1:9" in proc.stdout, proc.stdout[-3000:]
    assert "Remove the private directory" in proc.stdout
    assert_nothing_left(node, proc)


@pytest.mark.docker
@pytest.mark.slow
def test_converge_and_probe_on_a_fresh_node(node, ssh_public_key, azure_emulator):
    common = (
        "docker_host_resource_group=supplied",
        "docker_host_location=westeurope",
        '{"docker_host_allowed_cidrs": ["127.0.0.1/32"]}',
        f'{{"docker_host_ssh_public_keys": ["{ssh_public_key}"]}}',
        "docker_host_poll_interval=0",
    )
    created = node(node.play, *common)
    assert created.returncode == 0, created.stdout[-4000:] + created.stderr[-2000:]
    assert len(azure_emulator.vms()) == 1
    assert "answers over mutual TLS" in created.stdout
    assert "Write the env file" in created.stdout  # shown as skipped: nothing points at the removed files
    assert not (node.home / ".docker").exists() and not (node.vault / "servers").exists()
    assert_nothing_left(node, created)
    public_ip = re.search(rf"at {re.escape(FQDN)} \(([0-9.]+)\), port 2376", created.stdout).group(1)

    # Another fresh node (nothing left by the first): the pair and an address are enough.
    probed = node(PROBE, f"docker_host_probe_address={public_ip}", "docker_host_location=westeurope")
    assert probed.returncode == 0, probed.stdout[-4000:] + probed.stderr[-2000:]
    assert f"answers over mutual TLS at tcp://{public_ip}:2376 as {FQDN}" in probed.stdout
    assert_nothing_left(node, probed)

    destroyed = node(node.play, *common, "docker_host_state=absent")
    assert destroyed.returncode == 0, destroyed.stdout[-4000:]
    assert azure_emulator.vms() == []
    assert_nothing_left(node, destroyed)


MODES_PLAY = """\
- name: Materialise the supplied pair, look at it, remove it
  hosts: docker_hosts
  gather_facts: false
  tasks:
    - name: Materialise
      ansible.builtin.include_role:
        name: dockerhost.azure.docker_host
        tasks_from: supplied
      vars:
        _docker_host_ca_key_needed: true
    - name: Look
      ansible.builtin.stat:
        path: "{{ item }}"
      loop: >-
        {{ [_docker_host_cert_dir] + ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem']
           | map('regex_replace', '^', _docker_host_cert_dir ~ '/') }}
      register: seen
    - name: Show
      ansible.builtin.debug:
        msg: "MODES {{ seen.results | map(attribute='stat') | map(attribute='mode') | join(' ') }}"
    - name: Remove
      ansible.builtin.include_role:
        name: dockerhost.azure.docker_host
        tasks_from: cleanup
"""


def test_the_private_directory_is_0700_and_the_files_0600(node, tmp_path):
    (tmp_path / "modes.yml").write_text(MODES_PLAY)
    proc = node(tmp_path / "modes.yml", "ansible_connection=local")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "MODES 0700 0600 0600 0600 0600" in proc.stdout
    assert "dockerhost-azure-" in proc.stdout  # the directory was under this node's TMPDIR
    assert_nothing_left(node, proc)
