# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The playbooks, copied unchanged into a project, run under ansible-runner with the environment AWX's
Azure credential injects (AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT,
AZURE_CLOUD_ENVIRONMENT), against the emulator: create, probe, create again (no change, no write),
destroy."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from ansible_collections.dockerhost.azure.tests.integration.role.jobs import stats, writes

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

HOST = "awx-docker-1"
FQDN = f"{HOST}.westeurope.cloudapp.azure.com"


def test_create_probe_rerun_destroy_with_awx_credential_environment(runner_project, azure_emulator, ssh_public_key):
    cert_dir = runner_project.work / "docker"
    runner_project.inventory(
        [HOST],
        docker_host_resource_group="awx-docker-hosts",
        docker_host_location="westeurope",
        docker_host_allowed_cidrs=["127.0.0.1/32"],
        docker_host_ssh_public_keys=[ssh_public_key],
        docker_host_cert_path=str(cert_dir),
        # The emulated FQDN does not resolve here: have the certificate name the public IP too.
        docker_host_cert_ip_san=True,
        docker_host_poll_interval=1,
        docker_host_wait_timeout=300,
    )
    assert {"AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT"} <= set(runner_project.envvars)

    created = runner_project.run("create.yml")
    assert (created.status, created.rc) == ("successful", 0), created.stdout[-4000:]
    (shown,) = created.task_results("Show how to use the Docker host")
    lines = shown["msg"]
    assert f"DOCKER_CERT_PATH={cert_dir} docker --tlsverify -H tcp://{FQDN}:2376 info" in lines
    (vm,) = azure_emulator.vms()
    env_file = (cert_dir / f"{HOST}.env").read_text()
    assert f"DOCKER_HOST=tcp://{FQDN}:2376\n" in env_file and "DOCKER_TLS_VERIFY=1\n" in env_file

    # The FQDN does not resolve here; the certificate also names the public IP, so the docker CLI verifies.
    public_ip = json.loads((cert_dir / f"{HOST}.host.json").read_text())["public_ip"]
    assert public_ip.startswith("127.")
    cli = subprocess.run(
        ["docker", "--tlsverify", "-H", f"tcp://{public_ip}:2376", "version", "--format", "{{.Server.APIVersion}}"],
        env={"DOCKER_CERT_PATH": str(cert_dir), "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cert_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    api = re.search(r"\(API ([0-9.]+)\)", lines[0]).group(1)  # what the probe saw
    assert cli.returncode == 0 and cli.stdout.strip() == api, cli.stderr
    assert vm  # the VM agent runs the daemon the CLI just talked to

    probed = runner_project.run("probe.yml")
    assert (probed.status, probed.rc) == ("successful", 0), probed.stdout[-4000:]
    (answer,) = probed.task_results("Show what answered")
    assert "answers over mutual TLS" in answer["msg"] and FQDN in answer["msg"]

    mark = max((r["seq"] for r in azure_emulator.requests()), default=0)
    again = runner_project.run("create.yml")
    assert (again.status, again.rc) == ("successful", 0), again.stdout[-4000:]
    assert stats(again)["changed"] == {}
    assert writes(azure_emulator.requests(since=mark)) == []

    # Synchronous this time (docker_host_poll_interval=0): the task returns when Azure is done.
    destroyed = runner_project.run("destroy.yml", extravars={"docker_host_poll_interval": 0})
    assert (destroyed.status, destroyed.rc) == ("successful", 0), destroyed.stdout[-4000:]
    assert azure_emulator.vms() == []
    again = runner_project.run("destroy.yml")
    assert (again.status, again.rc) == ("successful", 0), again.stdout[-4000:]
    assert stats(again)["changed"] == {}
    assert not (cert_dir / f"{HOST}.env").exists() and not (cert_dir / f"{HOST}.host.json").exists()
    assert not (cert_dir / "servers" / HOST).exists()
    assert sorted(p.name for p in cert_dir.glob("*.pem")) == ["ca-key.pem", "ca.pem", "cert.pem", "key.pem"]
