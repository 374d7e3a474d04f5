# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script, as rendered for the CustomScript extension, run as root on booted Debian guests.

bookworm (docker.io 20.10), trixie (26.1) and sid (28.5), systemd as PID 1, the suite's own units. The
images have docker.io pre-installed, so the script takes its "already installed" path; its apt path is for
the VM test (issue 14). Socket activation and the daemon.json merge were strict xfails until the `script`
branch fixed them (issue 14, defects found on a real VM); a masked or missing docker.socket was one until the
`socket` branch made the script refuse it before any change.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.forward import Forward
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_probe import run_probe

pytestmark = [pytest.mark.guest, pytest.mark.slow]

SCRIPT = "/var/lib/waagent/custom-script/script.sh"  # where the CustomScript handler puts it, roughly


def install(guest, docker_tls, timeout: float = 180.0, daemon_options: dict | None = None):
    """Run the rendered script the way the handler does: written to a file, ``/bin/sh`` as root."""
    script = docker_tls.script(daemon_options)
    guest.run(f"mkdir -p {SCRIPT.rsplit('/', 1)[0]} && cat > {SCRIPT}", input=script)
    return guest.run(f"cd {SCRIPT.rsplit('/', 1)[0]} && /bin/sh {SCRIPT}", timeout=timeout, check=False)


def installed(guest, docker_tls):
    result = install(guest, docker_tls)
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def https_get(guest, docker_tls, path: str, client_cert: bool = True) -> tuple[int, dict]:
    """GET ``path`` from the daemon's TLS port, from this (host) process, through the guest's namespace."""
    raw = guest.connect(docker_tls.port)
    with docker_tls.context(client_cert).wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    if b"chunked" in head.lower():
        body = _unchunk(body)
    return status, json.loads(body)


def presented_cert(guest, docker_tls) -> bytes:
    """The DER certificate the daemon's TLS port presents now."""
    raw = guest.connect(docker_tls.port)
    with docker_tls.context().wrap_socket(raw, server_hostname="localhost") as conn:
        return conn.getpeercert(binary_form=True)


def pem_to_der(path: str) -> bytes:
    with open(path, encoding="ascii") as handle:
        return ssl.PEM_cert_to_DER_cert(handle.read())


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, rest = body.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def test_first_run_leaves_dockerd_under_systemd_demanding_client_certs(guest, docker_tls):
    result = installed(guest, docker_tls)
    assert "configuration changed: 1" in result.stdout

    assert guest.run("systemctl is-active docker.service").stdout.strip() == "active"
    pid = guest.main_pid("docker.service")
    assert guest.run(f"readlink /proc/{pid}/exe").stdout.strip().endswith("/dockerd")

    status, version = https_get(guest, docker_tls, "/version")
    assert status == 200
    suite_version = guest.run("cat /.dockerhost-guest").stdout.split()[1]
    assert suite_version.startswith(version["Version"].split("+")[0]), (suite_version, version["Version"])

    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        https_get(guest, docker_tls, "/version", client_cert=False)


def test_docker_cli_from_the_host_talks_mutual_tls(guest, docker_tls):
    """The host's docker CLI, run in the guest's network namespace, answers with --tlsverify."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI on this host (bindep.txt installs docker.io)")
    installed(guest, docker_tls)
    cli = [
        "nsenter", f"--target={guest.leader}", "--net", "docker", "--tlsverify",
        f"--tlscacert={docker_tls.ca.cert_path}", f"--tlscert={docker_tls.client.cert}",
        f"--tlskey={docker_tls.client.key}", "-H", f"tcp://localhost:{docker_tls.port}",
        "version", "--format", "{{.Server.Version}}",
    ]  # fmt: skip
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_rerun_changes_nothing_and_keeps_dockerd(guest, docker_tls):
    installed(guest, docker_tls)
    pid = guest.main_pid("docker.service")
    files = guest.run("stat -c '%n %Y %a' /etc/docker/* /etc/systemd/system/docker.service.d/*").stdout

    again = installed(guest, docker_tls)
    assert "configuration changed: 0" in again.stdout
    assert "wrote" not in again.stdout
    assert guest.main_pid("docker.service") == pid
    assert guest.run("stat -c '%n %Y %a' /etc/docker/* /etc/systemd/system/docker.service.d/*").stdout == files


def import_busybox(guest) -> str:
    """A tiny image from a local tarball of the guest's busybox-static: no registry is reachable."""
    guest.run(
        "set -e; d=$(mktemp -d); mkdir $d/bin; cp /bin/busybox $d/bin/; ln -s busybox $d/bin/sh;"
        " tar -C $d -c . | docker import - dockerhost/busybox:local >/dev/null",
        timeout=120,
    )
    return "dockerhost/busybox:local"


def test_server_certificate_rotation_restarts_dockerd_once_and_a_container_survives(guest, docker_tls):
    """Issue 14: a new server pair from the same CA is one restart; live-restore keeps containers running."""
    installed(guest, docker_tls)
    image = import_busybox(guest)
    guest.run(f"docker run -d --name survivor --network none {image} /bin/busybox sleep 100000 >/dev/null", timeout=120)
    container_pid = guest.run("docker inspect --format '{{.State.Pid}}' survivor").stdout.strip()
    dockerd_pid = guest.main_pid("docker.service")
    cursor = guest.run("journalctl --show-cursor -n 0 -q").stdout.strip().removeprefix("-- cursor: ")
    old_der = pem_to_der(docker_tls.server.cert)
    assert presented_cert(guest, docker_tls) == old_der

    docker_tls.rotate_server("server-rotated")
    rotated = installed(guest, docker_tls)
    assert rotated.stdout.count("restarting Docker") == 1, rotated.stdout
    written = [line.split()[-1] for line in rotated.stdout.splitlines() if line.startswith("dockerhost: wrote ")]
    assert written == ["/etc/docker/server-cert.pem", "/etc/docker/server-key.pem"]
    starts = guest.run(f"journalctl -u docker.service --after-cursor='{cursor}' -o cat | grep -c '^Started '").stdout
    assert int(starts) == 1
    assert guest.main_pid("docker.service") not in (0, dockerd_pid)

    state = guest.run("docker inspect --format '{{.State.Running}} {{.State.Pid}}' survivor").stdout.split()
    assert state == ["true", container_pid]  # the same process, never restarted
    new_der = pem_to_der(docker_tls.server.cert)
    assert new_der != old_der
    assert presented_cert(guest, docker_tls) == new_der
    assert https_get(guest, docker_tls, "/version")[0] == 200


def test_a_container_runs_after_the_first_install(guest, docker_tls):
    installed(guest, docker_tls)
    image = import_busybox(guest)
    ran = guest.run(f"docker run --rm --network none {image} /bin/sh -c 'echo hello'", timeout=120)
    assert ran.stdout.strip() == "hello"


def test_hardened_defaults_are_in_force(guest, docker_tls):
    """Issue 14 item 3, seen from the daemon and from inside a container rather than from daemon.json."""
    installed(guest, docker_tls)
    info = json.loads(guest.run("docker info --format '{{json .}}'").stdout)
    assert info["LiveRestoreEnabled"] is True
    assert info["LoggingDriver"] == "json-file"
    image = import_busybox(guest)
    name = "hardened"
    status = guest.run(f"docker run --name {name} {image} /bin/sh -c 'grep NoNewPrivs /proc/self/status'").stdout
    assert status.split() == ["NoNewPrivs:", "1"]  # a setuid binary could not gain privileges
    log_config = json.loads(guest.run(f"docker inspect --format '{{{{json .HostConfig.LogConfig}}}}' {name}").stdout)
    assert log_config["Config"] == {"max-file": "3", "max-size": "10m"}
    bridge = json.loads(guest.run("docker network inspect bridge --format '{{json .Options}}'").stdout)
    assert bridge["com.docker.network.bridge.enable_icc"] == "false"
    # userland-proxy false: a published port is NAT only, no docker-proxy process listens for it.
    guest.run(
        f"docker run -d --name published -p 127.0.0.1:18080:8080 {image} /bin/busybox httpd -f -p 8080 >/dev/null",
        timeout=120,
    )
    ports = guest.run("docker port published").stdout
    assert "127.0.0.1:18080" in ports, ports
    proxies = guest.run("grep -lx docker-proxy /proc/[0-9]*/comm", check=False).stdout
    assert proxies == "", f"docker-proxy runs although userland-proxy is false: {proxies}"


def test_local_socket_works_after_stopping_docker(guest, docker_tls):
    installed(guest, docker_tls)
    guest.run("systemctl stop docker.service")
    # docker.socket (still listening) must start dockerd again on the first local request.
    done = guest.run("timeout 60 docker -H unix:///var/run/docker.sock version", timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    assert guest.run("systemctl is-active docker.service", check=False).stdout.strip() == "active"


def test_daemon_json_written_before_the_first_run_is_kept(guest, docker_tls):
    guest.run(
        "mkdir -p /etc/docker /srv/docker && printf '%s\\n' "
        '\'{"data-root": "/srv/docker", "log-opts": {"max-size": "10m"}}\' > /etc/docker/daemon.json'
        " && systemctl restart docker.service"
    )
    installed(guest, docker_tls)
    info = guest.run("docker info --format '{{json .}}'").stdout
    assert json.loads(info)["DockerRootDir"] == "/srv/docker"
    assert https_get(guest, docker_tls, "/version")[0] == 200


BREAK_DOCKER_SOCKET = {
    "masked": "systemctl mask docker.socket",
    "missing": "rm -f /lib/systemd/system/docker.socket /usr/lib/systemd/system/docker.socket"
    " && systemctl daemon-reload",
}


@pytest.mark.parametrize("how", sorted(BREAK_DOCKER_SOCKET))
def test_a_masked_or_missing_docker_socket_fails_before_any_change_and_the_way_out_works(guest, docker_tls, how):
    """Issue 14 defect 1: Debian's docker.service has Requires=docker.socket, so systemd cannot start Docker with
    the socket masked or missing. The script says so before changing anything and never unmasks; after the way
    out it names (a full docker.service without the Requires=), Docker runs without docker.socket."""
    guest.run("systemctl disable --now docker.socket docker.service >/dev/null 2>&1 || true")
    guest.run(BREAK_DOCKER_SOCKET[how])
    state = guest.run("systemctl show -p LoadState --value docker.socket").stdout.strip()
    files = guest.run("ls -la /etc/docker /etc/systemd/system").stdout

    refused = install(guest, docker_tls)
    assert refused.returncode == 1, refused.stdout
    assert f"docker.service requires docker.socket, which is {state} here" in refused.stderr, refused.stderr
    assert "nothing was changed" in refused.stderr
    assert guest.run("ls -la /etc/docker /etc/systemd/system").stdout == files
    assert guest.run("systemctl show -p LoadState --value docker.socket").stdout.strip() == state  # not unmasked

    guest.run(
        "sed '/^Requires=docker.socket$/d' /lib/systemd/system/docker.service > /etc/systemd/system/docker.service"
        " && systemctl daemon-reload"
    )
    installed(guest, docker_tls)
    assert guest.run("systemctl is-active docker.service").stdout.strip() == "active"
    assert json.loads(guest.run("cat /etc/docker/daemon.json").stdout)["hosts"][0] == "unix:///var/run/docker.sock"
    assert https_get(guest, docker_tls, "/version")[0] == 200
    guest.run("timeout 60 docker -H unix:///var/run/docker.sock version >/dev/null", timeout=90)


def test_a_configuration_dockerd_refuses_is_rolled_back(guest, docker_tls):
    """The extension fails with dockerd's own words, and the daemon runs on with the previous configuration."""
    installed(guest, docker_tls)
    before = guest.run("cat /etc/docker/daemon.json").stdout
    refused = install(guest, docker_tls, daemon_options={"log-level": "loud"})
    assert refused.returncode != 0
    assert "loud" in refused.stderr, refused.stderr  # dockerd's message names the value it refused
    assert guest.run("cat /etc/docker/daemon.json").stdout == before
    assert guest.run("systemctl is-active docker.service").stdout.strip() == "active"
    assert https_get(guest, docker_tls, "/version")[0] == 200


@pytest.mark.parametrize("guest", ["sid"], indirect=True)
def test_the_probe_talks_to_docker_28(guest, docker_tls):
    """Issue 14: docker_host_probe's own code against sid's docker.io 28.5, over mutual TLS through a forward."""
    installed(guest, docker_tls)
    api = guest.run("docker version --format '{{.Server.APIVersion}}'").stdout.strip()
    with Forward.tcp(lambda: guest.connect(docker_tls.port)) as forward:
        params = {
            "docker_host": forward.url,
            "ca_cert": docker_tls.ca.cert_path,
            "client_cert": docker_tls.client.cert,
            "client_key": docker_tls.client.key,
            "tls_hostname": "localhost",
            "timeout": 20,
            "wait_timeout": 0.0,
            "min_api_version": "1.44",  # what Docker 29 demands of its clients
        }
        result, warnings = run_probe(params, {})
    assert not result.get("failed"), result
    assert warnings == []
    assert result["version"]["ApiVersion"] == api
    assert tuple(int(part) for part in api.split(".")) >= (1, 51)
    assert result["version"]["Version"].startswith("28.")
