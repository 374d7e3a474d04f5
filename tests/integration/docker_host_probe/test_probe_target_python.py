# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_host_probe as a module on the target Pythons it claims (3.8 and later), and on older ones.

The module runs as on a managed node (the ``elsewhere`` connection) with ``ansible_python_interpreter`` set to
another Python than the controller's: the oldest claimed one must probe a real daemon (without
``cryptography``, which that Python does not have here: the certificate is then shown by its fingerprint);
the same with the minimum ``cryptography`` (a cached venv, see ``tests/support/target_python.py``); an older
one must fail with a message, never a traceback (issue 15). The interpreters are looked up under pyenv and on
PATH; a test whose interpreter is missing is skipped, saying so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.probe_helpers import FQDN
from ansible_collections.dockerhost.azure.tests.support import target_python
from ansible_collections.dockerhost.azure.tests.support.ansible import VENV
from ansible_collections.dockerhost.azure.tests.support.target_python import OLDEST, needs, oldest_venv

pytestmark = pytest.mark.docker

MODULE = "dockerhost.azure.docker_host_probe"


def run_on(python: str, params: dict, home: Path) -> dict:
    return target_python.run_on(python, MODULE, params, home)


def oldest(flavour: str) -> str:
    """The oldest claimed Python bare (no cryptography: the stdlib paths) or in a venv with the minimum one."""
    return needs(OLDEST) if flavour == "bare" else oldest_venv()


@pytest.mark.parametrize("flavour", ["bare", "with-cryptography"])
def test_the_oldest_claimed_python_probes_a_real_daemon(probe_world, tmp_path, flavour):
    result = run_on(oldest(flavour), probe_world.tls_params(), tmp_path)
    assert not result.get("failed"), result
    assert result["ping"] == "OK"
    assert len(result["server_cert"]["sha256_fingerprint"]) == 64
    if flavour == "bare":
        assert "cryptography is not installed" in result["server_cert"]["details_missing"]
    else:
        assert result["server_cert"]["sans"] == [f"DNS:{FQDN}"]


@pytest.mark.parametrize("flavour", ["bare", "with-cryptography"])
def test_the_oldest_claimed_python_refuses_a_ca_bundle(probe_world, tmp_path, flavour):
    """Issue 13 item 1: a CA appended to ca.pem must not be trusted, with or without cryptography."""
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(Path(probe_world.ca.cert_path).read_bytes() + Path(probe_world.other_ca.cert_path).read_bytes())
    result = run_on(oldest(flavour), probe_world.tls_params(ca_cert=str(bundle)), tmp_path)
    assert result["failed"]
    assert result["error_kind"] == "invalid_option", result["msg"]
    assert f"ca_cert {bundle} is not a PEM CA certificate: it holds 2 PEM blocks" in result["msg"]


@pytest.mark.parametrize(
    ("daemon", "overrides", "kind"),
    [
        ("open", {}, "client_auth_not_required"),
        ("tls", {"client": "foreign_client"}, "tls_client_rejected"),
        ("expired", {}, "tls_expired"),
        ("tls", {"tls_hostname": None}, "tls_hostname_mismatch"),
    ],
)
def test_the_oldest_claimed_python_classifies_failures(probe_world, tmp_path, daemon, overrides, kind):
    """The classification paths, run by the oldest claimed Python (runtime features a parser cannot see)."""
    python = needs(OLDEST)
    client = getattr(probe_world, overrides.pop("client", "client"))
    params = probe_world.tls_params(
        getattr(probe_world, daemon), client_cert=client.cert, client_key=client.key, **overrides
    )
    result = run_on(python, params, tmp_path)
    assert result["failed"]
    assert result["error_kind"] == kind, result["msg"]


def ansible_core_version() -> tuple[int, ...]:
    out = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import ansible.release; print(ansible.release.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return tuple(int(part) for part in out.stdout.split(".")[:2])


@pytest.mark.parametrize("version", ["3.7", "3.6", "2.7"])
def test_older_pythons_fail_with_a_message_not_a_traceback(probe_world, tmp_path, version):
    """Meaningful where ansible-core still runs modules on these Pythons (2.16, 2.17: `make min-deps`)."""
    core = ansible_core_version()
    if core >= (2, 18):
        pytest.skip(f"ansible-core {core[0]}.{core[1]} stops Python {version} targets in its own wrapper first")
    python = needs(version)
    result = run_on(python, probe_world.tls_params(), tmp_path)
    assert result["failed"]
    text = str(result.get("msg", "")) + str(result.get("module_stderr", "")) + str(result.get("module_stdout", ""))
    assert "SyntaxError" not in text, result
    assert "Traceback" not in text, result
    assert result["error_kind"] == "unsupported_python"
    assert f"needs Python {OLDEST} or later" in result["msg"]
    assert "ansible_python_interpreter" in result["msg"]
