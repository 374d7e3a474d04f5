# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The extension plan: fingerprints in public places, secrets only in protected ones."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import pathlib

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import load_certificates
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_extension import (
    ServerKeyRequired,
    apply_reasons,
    check_server_key,
    extension_outcome,
    failure_text,
    parse_update_tag,
    plan_extensions,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import INSTALL_METHODS
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import OWNER_TAG
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import script_sha256
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import der_sha256


# -- the extension plan ----------------------------------------------------------------------------------------
def plan(extensions, certs, option="custom_script", port=2376):
    method = INSTALL_METHODS[option]
    return plan_extensions(extensions, method=method, port=port, certs=certs, location="westeurope", vm_name="dh1")


def as_azure_returns(step, state="Succeeded"):
    """An extension as GET shows it: protectedSettings gone, provisioningState set."""
    ext = copy.deepcopy(step.body)
    ext["properties"].pop("protectedSettings")
    ext["properties"]["provisioningState"] = state
    ext.update(name=step.name, id=f"/x/extensions/{step.name}")
    return ext


def test_custom_script_carries_fingerprints_publicly_and_secrets_only_protected(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    (step,) = plan([], certs)
    assert step.action == "create"
    props = step.body["properties"]
    assert (props["publisher"], props["type"], props["typeHandlerVersion"]) == (
        "Microsoft.Azure.Extensions",
        "CustomScript",
        "2.1",
    )
    assert props["settings"] == {}
    tag = parse_update_tag(props["forceUpdateTag"])
    assert tag == {
        "port": "2376",
        "cert": der_sha256(tls["cert"]),
        "ca": der_sha256(tls["ca"]),
        "script": script_sha256(),
    }
    script = gzip.decompress(base64.b64decode(props["protectedSettings"]["script"])).decode()
    assert base64.b64encode(certs.key_pem).decode() in script
    assert step.body["tags"] == {OWNER_TAG: "dh1"}
    # Nothing secret (nor any hash of the key) outside protectedSettings.
    public = json.dumps({k: v for k, v in props.items() if k != "protectedSettings"}) + json.dumps(step.after)
    key_b64 = base64.b64encode(certs.key_pem).decode()
    for secret in (certs.key_pem.decode(), key_b64, hashlib.sha256(certs.key_pem).hexdigest()):
        assert secret not in public


def test_docker_extension_settings(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    (step,) = plan([], certs, option="docker_extension", port=4243)
    props = step.body["properties"]
    assert (props["type"], props["settings"]) == ("DockerExtension", {"docker": {"port": "4243"}})
    protected = props["protectedSettings"]["certs"]
    assert base64.b64decode(protected["key"]) == certs.key_pem
    assert base64.b64decode(protected["cert"]) == certs.cert_pem
    assert base64.b64decode(protected["ca"]) == certs.ca_pem
    assert "script" not in parse_update_tag(props["forceUpdateTag"])


def test_noop_then_only_cert_rotation_reruns(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    (created,) = plan([], certs)
    existing = [as_azure_returns(created)]
    assert [s.action for s in plan(existing, certs)] == ["none"]
    rotated_pair = tls["pki"].server("rotated", dns_names=("dh1.westeurope.cloudapp.azure.com",))
    rotated = load_certificates(tls["ca"], rotated_pair.cert, rotated_pair.key)
    (step,) = plan(existing, rotated)
    assert (step.action, step.reasons) == ("update", ["fingerprints"])
    assert step.before["fingerprints"]["cert"] != step.after["fingerprints"]["cert"]
    (port_step,) = plan(existing, certs, port=4243)
    assert port_step.reasons == ["fingerprints"]


def test_script_change_reruns(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    existing = [as_azure_returns(plan([], certs)[0])]
    tag = existing[0]["properties"]["forceUpdateTag"]
    existing[0]["properties"]["forceUpdateTag"] = tag.replace(script_sha256(), "0" * 64)
    (step,) = plan(existing, certs)
    assert step.reasons == ["fingerprints"]


def test_failed_extension_is_rerun_with_a_new_tag(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    failed = as_azure_returns(plan([], certs)[0], state="Failed")
    (step,) = plan([failed], certs)
    assert (step.action, step.reasons) == ("update", ["provisioning_state"])
    assert parse_update_tag(step.body["properties"]["forceUpdateTag"])["run"] == "1"
    # A later success with that tag is a no-op: the run counter is not a wanted property.
    rerun = as_azure_returns(step)
    assert [s.action for s in plan([rerun], certs)] == ["none"]


def test_switching_install_method_removes_the_other_extension(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    docker_ext = as_azure_returns(plan([], certs, option="docker_extension")[0])
    unrelated = {"name": "OmsAgent", "properties": {"type": "OmsAgentForLinux", "publisher": "Microsoft"}}
    steps = plan([docker_ext, unrelated], certs)
    assert [(s.name, s.action) for s in steps] == [("DockerExtension", "delete"), ("docker-install", "create")]


def test_failure_text_has_status_and_stderr_tail():
    ext = {
        "properties": {
            "provisioningState": "Failed",
            "instanceView": {
                "statuses": [
                    {"code": "ProvisioningState/failed/1", "level": "Error", "message": "Enable failed: exit status=1"}
                ],
                "substatuses": [
                    {"code": "ComponentStatus/StdOut/succeeded", "message": "dockerhost: wrote x"},
                    {"code": "ComponentStatus/StdErr/succeeded", "message": "\n".join(f"line {i}" for i in range(40))},
                ],
            },
        }
    }
    text = failure_text(ext)
    assert "Enable failed: exit status=1" in text
    assert "line 39" in text
    assert "line 19" not in text  # only the tail
    assert "wrote x" not in text
    outcome = extension_outcome(ext, INSTALL_METHODS["custom_script"])
    assert outcome == {
        "name": "docker-install",
        "type": "Microsoft.Azure.Extensions.CustomScript",
        "provisioning_state": "Failed",
        "status_message": "Enable failed: exit status=1",
    }
    assert failure_text(None) == "no status message was reported"


def test_a_tag_without_the_ca_print_does_not_rerun_for_that_alone(tls):
    # The same server certificate is the same CA (it is checked to be issued by it): no re-run, no diff.
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    existing = as_azure_returns(plan([], certs)[0])
    tag = existing["properties"]["forceUpdateTag"]
    existing["properties"]["forceUpdateTag"] = tag.replace(f";ca={certs.ca_sha256}", "")
    assert "ca" not in parse_update_tag(existing["properties"]["forceUpdateTag"])
    assert [s.action for s in plan([existing], certs)] == ["none"]
    # Another server certificate with that old tag re-runs, and the new tag carries the CA print.
    other = tls["pki"].server("other", dns_names=("dh1.westeurope.cloudapp.azure.com",))
    (step,) = plan([existing], load_certificates(tls["ca"], other.cert, other.key))
    assert step.reasons == ["fingerprints"]
    assert parse_update_tag(step.body["properties"]["forceUpdateTag"])["ca"] == certs.ca_sha256


# -- without the server key (a fresh control node keeps the certificate in use; issue 12 item 2) ------------
def test_without_the_key_a_host_that_carries_the_certificate_needs_no_write(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    existing = [as_azure_returns(plan([], certs)[0])]
    keyless = load_certificates(tls["ca"], pathlib.Path(tls["cert"]).read_text(), None)
    assert keyless.key_pem is None and keyless.server_sha256 == certs.server_sha256
    steps = plan(existing, keyless)
    assert [s.action for s in steps] == ["none"]
    assert "protectedSettings" not in steps[0].body["properties"]
    check_server_key(steps, keyless, "dh1")  # nothing to put: no error


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("none", "the Docker extension is not on the VM yet"),
        ("script", "the install script changed"),
        ("port", "docker_port changed"),
        ("cert", "the server certificate is not the one the extension carries"),
        ("failed", "the extension's last run did not succeed"),
    ],
)
def test_without_the_key_any_apply_fails_before_a_write_naming_why(tls, change, reason):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    existing = (
        []
        if change == "none"
        else [as_azure_returns(plan([], certs)[0], "Failed" if change == "failed" else "Succeeded")]
    )
    port = 4243 if change == "port" else 2376
    if change == "script":
        tag = existing[0]["properties"]["forceUpdateTag"]
        existing[0]["properties"]["forceUpdateTag"] = tag.replace(script_sha256(), "0" * 64)
    cert = tls["cert"]
    if change == "cert":
        cert = tls["pki"].server("other", dns_names=("dh1.westeurope.cloudapp.azure.com",)).cert
    keyless = load_certificates(tls["ca"], cert, None)
    steps = plan(existing, keyless, port=port)
    assert apply_reasons(steps[-1]) == [reason]
    with pytest.raises(ServerKeyRequired) as caught:
        check_server_key(steps, keyless, "dh1")
    assert caught.value.option == "server_key"
    assert caught.value.facts() == {"error_kind": "server_key_required", "reasons": [reason]}
    assert reason in caught.value.message and "Nothing was changed" in caught.value.message


def test_with_the_key_nothing_is_refused(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    check_server_key(plan([], certs), certs, "dh1")
