# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role variables as users give them: ``-e name=value`` makes every value a string, and $HOME need not be
the passwd home (sudo -E, containers, CI). The role converts what it computes with, refuses what cannot
convert or is out of range naming the variable, and does so before the first file is written.

``state=absent`` on an empty emulator is the cheapest run that reaches the role's async Azure task."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from ansible_collections.dockerhost.azure.tests.support.ansible import VENV, ansible_env

pytestmark = [pytest.mark.emulator]

PLAYBOOK = """\
- name: The docker_host role, as the collection's playbooks run it
  hosts: docker_hosts
  gather_facts: false
  roles:
    - role: dockerhost.azure.docker_host
"""


@pytest.fixture
def run_role(tmp_path, azure_emulator):
    """ansible-playbook with the role for one host; HOME is a fresh directory, not the passwd home."""
    home = tmp_path / "home"
    home.mkdir()
    certs = tmp_path / "certs"
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.yml").write_text(
        "docker_hosts:\n  hosts:\n    vars-1:\n  vars:\n"
        f"    docker_host_resource_group: role-vars\n    docker_host_cert_path: {certs}\n"
    )
    env = ansible_env(tmp_path / "ansible", extra={**azure_emulator.env(), "HOME": str(home)})
    # Ansible's default async directory (~/.ansible_async), as a user has it.
    env.pop("ANSIBLE_ASYNC_DIR")
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")

    def run(*extra_vars: str, check: bool = False) -> subprocess.CompletedProcess:
        argv = [VENV / "bin" / "ansible-playbook", "-i", tmp_path / "inventory.yml", tmp_path / "play.yml"]
        argv += ["--check"] if check else []
        for item in extra_vars:
            argv += ["-e", item]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)

    run.certs = certs
    run.home = home
    return run


@pytest.mark.parametrize("poll", ["0", "1"])
def test_numbers_from_the_command_line_work(run_role, poll):
    """-e docker_host_poll_interval=0 / -e docker_host_wait_timeout=600 crashed templating (str > int)."""
    proc = run_role("docker_host_state=absent", f"docker_host_poll_interval={poll}", "docker_host_wait_timeout=600")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Delete the VM" in proc.stdout


def test_async_job_files_follow_home(run_role):
    """With $HOME elsewhere than the passwd home, async_status found no job ("could not find job")."""
    proc = run_role("docker_host_state=absent", '{"docker_host_poll_interval": 1}')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "could not find job" not in proc.stdout
    assert (run_role.home / ".ansible_async").is_dir()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("docker_host_wait_timeout=soon", "docker_host_wait_timeout"),
        ("docker_host_cert_ip_san=perhaps", "docker_host_cert_ip_san"),
        ("docker_host_poll_interval=-1", "docker_host_poll_interval"),
    ],
)
def test_bad_values_fail_naming_the_variable_before_any_write(run_role, extra, named):
    proc = run_role(
        "docker_host_location=westeurope",
        '{"docker_host_allowed_cidrs": ["127.0.0.1/32"]}',
        "docker_host_admin_password=Not-used-4-real",
        extra,
    )
    assert proc.returncode != 0
    assert named in proc.stdout, proc.stdout[-3000:]
    assert not run_role.certs.exists() or not any(pathlib.Path(run_role.certs).rglob("*"))


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ((), "docker_host_location"),
        (("docker_host_location=westeurope", "docker_host_admin_password=Not-used-4"), "docker_host_allowed_cidrs"),
        (
            ("docker_host_location=westeurope", '{"docker_host_allowed_cidrs": ["127.0.0.1/32"]}'),
            "docker_host_ssh_public_keys",
        ),
    ],
)
def test_missing_present_requirements_fail_before_any_write(run_role, given, named):
    """azure_docker_vm (validate_only) checks them, not a copy of its checks in the role (issue 16 item 7)."""
    proc = run_role("docker_host_state=present", *given)
    assert proc.returncode != 0
    assert f"{named} is refused by azure_docker_vm" in proc.stdout, proc.stdout[-3000:]
    assert not run_role.certs.exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("docker_host_name=web.example.com", "docker_host_name"),  # an inventory name that is no VM name
        ("docker_host_port=2375", "docker_host_port"),
        ('{"docker_host_daemon_options": {"hosts": ["tcp://0.0.0.0:2375"]}}', "docker_host_daemon_options"),
        ("docker_host_allow_from_anywhere=false", None),  # the control: valid input gets past the check
    ],
)
def test_azure_options_are_checked_before_the_first_write(run_role, extra, named):
    """Issue 13 item 9: these failed only after the CA and client pair were written."""
    proc = run_role(
        "docker_host_location=westeurope",
        '{"docker_host_allowed_cidrs": ["127.0.0.1/32"]}',
        "docker_host_admin_password=Not-used-4-real",
        "docker_host_poll_interval=0",
        extra,
        check=named is None,  # check mode: the certificates phase runs, writes nothing, and Azure is skipped
    )
    if named is None:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "Ensure the shared CA" in proc.stdout
        return
    assert proc.returncode != 0
    assert f"{named} is refused by azure_docker_vm" in proc.stdout, proc.stdout[-3000:]
    assert "Ensure the shared CA" not in proc.stdout
    assert not run_role.certs.exists() or not any(pathlib.Path(run_role.certs).rglob("*"))
