# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_tls_certs on the oldest Python tests/config.yml claims (3.8), with the oldest cryptography we allow.

The module runs as on a managed node (the ``elsewhere`` connection) with ``ansible_python_interpreter`` set to
a Python 3.8 venv holding the minimum ``cryptography`` of requirements.txt: the runtime features a parser
cannot see (``datetime.UTC``, ``X | Y`` in isinstance, ``str.removeprefix``) fail here. The venv is built once
(a minute, from the package registry) and cached under ``~/.cache/dockerhost-azure``, keyed by both versions
(``tests/support/target_python.py``); later runs take about 30 s. Python 3.8 comes from pyenv, where this
machine's image also keeps the system ``python3``; where it is missing the test is skipped, saying so.
"""

from __future__ import annotations

from ansible_collections.dockerhost.azure.tests.integration.docker_tls_certs.tls_helpers import (
    certs_task,
    snapshot,
)
from ansible_collections.dockerhost.azure.tests.support.target_python import (
    OLDEST,
    TargetRunner,
    oldest_venv,
    on_python,
)


def test_the_oldest_claimed_python_issues_and_keeps_a_set(tmp_path):
    on_oldest = on_python(oldest_venv())
    certs = tmp_path / "docker"
    args = {"path": str(certs), "server_name": "h1", "hostnames": ["h1.example.test"], "ip_addresses": ["192.0.2.1"]}
    runner = TargetRunner(tmp_path / "ansible-home")
    first = runner.play(
        [
            {"ansible.builtin.setup": {"gather_subset": ["!all"]}, "vars": on_oldest},
            {**certs_task(**args), "vars": on_oldest},
        ]
    ).results
    assert first[0]["ansible_facts"]["ansible_python_version"].startswith(f"{OLDEST}."), first[0]
    issued = first[1]
    assert not issued.get("failed"), issued.get("msg") or issued
    assert issued["changed"]
    assert issued["server_not_after"].endswith("+00:00")
    assert len(issued["ca_fingerprint"]) == 64
    before = snapshot(certs)
    again = runner.play([{**certs_task(**args), "vars": on_oldest}]).results[0]
    assert not again.get("failed"), again.get("msg") or again
    assert not again["changed"]
    assert snapshot(certs) == before

    (certs / "ca.pem").write_bytes((certs / "ca.pem").read_bytes() * 2)  # the refusal path (issue 13 item 1)
    refused = runner.play([{**certs_task(**args), "vars": on_oldest}]).results[0]
    assert refused["failed"]
    assert f"{certs}/ca.pem holds 2 PEM blocks (CERTIFICATE, CERTIFICATE)" in refused["msg"]
