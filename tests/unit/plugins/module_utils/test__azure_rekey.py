# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never re-key a host by accident: the decision from the extension's forceUpdateTag alone."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_rekey import (
    CaMismatch,
    deployed_ca_prints,
    judge_ca,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption

CA1, CA2 = "a1" * 32, "b2" * 32
CERT1, CERT2 = "c1" * 32, "d2" * 32


def extension(tag, name="docker-install", type_="CustomScript"):
    return {"name": name, "properties": {"type": type_, "forceUpdateTag": tag, "provisioningState": "Succeeded"}}


def judge(extensions, *, ca=CA2, cert=CERT2, rotate=False):
    return judge_ca(extensions, vm_name="dh1", resource_group="rg", ca_sha256=ca, server_sha256=cert, rotate=rotate)


def test_a_host_without_an_extension_is_a_first_run():
    assert judge([]).action == "first"
    # Someone else's extension is not ours to judge.
    assert judge([extension(f"dockerhost:ca={CA1}", name="OmsAgent", type_="OmsAgentForLinux")]).action == "first"


def test_the_same_ca_is_fine_even_with_a_new_server_certificate():
    verdict = judge([extension(f"dockerhost:port=2376;cert={CERT1};ca={CA2};script=x")])
    assert (verdict.action, verdict.deployed, verdict.warning) == ("same", (CA2,), None)


def test_another_ca_is_refused_naming_the_host_both_prints_and_the_option():
    with pytest.raises(CaMismatch) as caught:
        judge([extension(f"dockerhost:port=2376;cert={CERT1};ca={CA1};script=x;run=2")])
    exc = caught.value
    assert isinstance(exc, InvalidOption)  # the module fails with option=rotate_ca
    assert exc.option == "rotate_ca"
    for needed in ("'dh1'", "'rg'", CA1, CA2, "rotate_ca=true", "lock out"):
        assert needed in exc.message
    assert exc.facts() == {"deployed_ca_sha256": CA1, "ca_sha256": CA2}


def test_another_ca_with_rotate_is_applied():
    verdict = judge([extension(f"dockerhost:port=2376;cert={CERT1};ca={CA1}")], rotate=True)
    assert (verdict.action, verdict.deployed) == ("rotate", (CA1,))


def test_the_other_install_methods_extension_counts_too():
    docker_ext = extension(
        f"dockerhost:port=2376;cert={CERT1};ca={CA1}", name="DockerExtension", type_="DockerExtension"
    )
    with pytest.raises(CaMismatch):
        judge([docker_ext])
    assert judge([docker_ext], ca=CA1).action == "same"


def test_an_old_tag_without_the_ca_print_but_the_same_server_certificate_is_the_same_ca():
    # The run's server certificate is checked to be issued by its CA: the same certificate, the same CA.
    verdict = judge([extension(f"dockerhost:port=2376;cert={CERT2};script=x")])
    assert (verdict.action, verdict.warning) == ("same", None)
    assert deployed_ca_prints([extension(f"dockerhost:cert={CERT2}")], server_sha256=CERT2, ca_sha256=CA2) == (
        [CA2],
        False,
    )


@pytest.mark.parametrize("tag", [f"dockerhost:port=2376;cert={CERT1}", "2014-10-01", None])
def test_a_tag_that_does_not_say_is_unknown_not_refused_and_warned(tag):
    verdict = judge([extension(tag)])
    assert verdict.action == "unknown"
    assert "unknown" in verdict.warning and CA2 in verdict.warning and "'dh1'" in verdict.warning


def test_a_known_print_wins_over_an_unknown_one():
    both = [
        extension(f"dockerhost:cert={CERT1};ca={CA1}"),
        extension("", name="DockerExtension", type_="DockerExtension"),
    ]
    with pytest.raises(CaMismatch):
        judge(both)
    assert judge(both, ca=CA1).action == "same"
