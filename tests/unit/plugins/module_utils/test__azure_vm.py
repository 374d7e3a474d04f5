# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM input rules (Azure's) and the VM plan, immutable properties included."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import OWNER_TAG
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import AzureDockerHostError, InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm import (
    DEFAULT_IMAGE,
    VmSpec,
    parse_image,
    plan_vm,
    validate_admin_password,
    validate_admin_username,
    validate_ssh_public_keys,
    validate_vm_name,
    validate_vm_size,
)


def openssh(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


ED25519 = openssh(ed25519.Ed25519PrivateKey.generate()) + " me@laptop"
NIC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/dh1-nic"


def spec(**over) -> VmSpec:
    base = {
        "name": "dh1",
        "location": "westeurope",
        "vm_size": "Standard_B2s",
        "image": parse_image(DEFAULT_IMAGE),
        "admin_username": "azureuser",
        "ssh_public_keys": (ED25519,),
        "admin_password": None,
        "nic_id": NIC,
        "tags": None,
    }
    base.update(over)
    return VmSpec(**base)


def as_azure_returns(step) -> dict:
    """A created VM as GET shows it: no adminPassword, ids, vmId, provisioningState, extensions listed."""
    vm = copy.deepcopy(step.body)
    vm["properties"]["osProfile"].pop("adminPassword", None)
    vm["properties"].update(provisioningState="Succeeded", vmId="0f2a4e2c-7c4c-4a55-9f2e-4e0a4c0f3b11")
    vm["properties"]["storageProfile"]["imageReference"]["exactVersion"] = "24.04.202501010"
    vm.update(id=f"/x/{step.name}", name=step.name, resources=[{"id": "/x/ext"}])
    return vm


# -- input -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["", "-a", "a-", "a_b", "a.b", "12345", "a" * 65, "white space"])
def test_bad_vm_names(name):
    with pytest.raises(InvalidOption) as info:
        validate_vm_name(name)
    assert info.value.option == "name"


@pytest.mark.parametrize("name", ["a", "dh1", "docker-host-01", "A" * 64])
def test_good_vm_names(name):
    assert validate_vm_name(name) == name


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("admin", "reserved"),
        ("Administrator", "reserved"),
        ("root", "reserved"),
        ("guest", "reserved"),
        ("1user", "must not start"),
        ("-user", "must not start"),
        ("us er", "may only contain"),
        ("u" * 65, "1-64"),
        ("", "1-64"),
    ],
)
def test_bad_admin_usernames(user, message):
    with pytest.raises(InvalidOption, match=message) as info:
        validate_admin_username(user)
    assert info.value.option == "admin_username"


CANARY = "Canary-pw-7f3a!"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ab1!", "6-72"),
        ("A" * 60 + "b1!" + "c" * 10, "6-72"),
        ("alllowercase", "3 of these 4"),
        ("ALLUPPER123", "3 of these 4"),
        ("P@ssw0rd", "disallowed"),
        ("Pass\tword1", "control characters"),
    ],
)
def test_bad_passwords_never_repeat_the_password(password, message):
    with pytest.raises(InvalidOption, match=message) as info:
        validate_admin_password(password)
    assert info.value.option == "admin_password"
    assert password not in str(info.value)


def test_good_password():
    assert validate_admin_password(CANARY) == CANARY
    assert validate_admin_password(None) is None


def test_ssh_keys():
    rsa_key = openssh(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert validate_ssh_public_keys([f"  {ED25519}\n", rsa_key]) == [ED25519, rsa_key]
    assert validate_ssh_public_keys(None) == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("ssh-ed25519", "not an OpenSSH public key"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not an OpenSSH public key"),
        ("ssh-ed25519 AAAAnotbase64!!", "cannot be parsed"),
    ],
)
def test_bad_ssh_keys(key, message):
    with pytest.raises(InvalidOption, match=message) as info:
        validate_ssh_public_keys([key])
    assert info.value.option == "ssh_public_keys"


def test_small_rsa_key_is_refused():
    small = openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(InvalidOption, match="1024-bit"):
        validate_ssh_public_keys([small])


def test_a_private_key_is_refused_and_not_shown():
    private = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        .decode()
    )
    with pytest.raises(InvalidOption, match="is a private key") as info:
        validate_ssh_public_keys([private])
    assert private.splitlines()[1] not in str(info.value)


@pytest.mark.parametrize("size", ["Standard B2s", "", "x;y"])
def test_bad_vm_size(size):
    with pytest.raises(InvalidOption, match="vm_size"):
        validate_vm_size(size)


def test_images():
    image = parse_image(DEFAULT_IMAGE)
    assert image.reference() == {
        "publisher": "Canonical",
        "offer": "ubuntu-24_04-lts",
        "sku": "server",
        "version": "latest",
    }
    image_id = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/golden"
    assert parse_image(image_id).reference() == {"id": image_id}
    for bad in ("Canonical:ubuntu", "a:b:c:", "ubuntu"):
        with pytest.raises(InvalidOption, match="image"):
            parse_image(bad)


def test_image_matching():
    ref = {
        "publisher": "canonical",
        "offer": "UBUNTU-24_04-lts",
        "sku": "server",
        "version": "latest",
        "exactVersion": "24.04.1",
    }
    assert parse_image(DEFAULT_IMAGE).matches(ref)
    assert parse_image("Canonical:ubuntu-24_04-lts:server:24.04.1").matches(ref)  # pinned = what it runs
    assert not parse_image("Canonical:ubuntu-24_04-lts:server:24.04.2").matches(ref)
    assert not parse_image("Canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest").matches(ref)


# -- plan --------------------------------------------------------------------------------------------------
def test_create_body_with_keys_only_disables_password_login():
    step = plan_vm(None, spec())
    props = step.body["properties"]
    linux = props["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert linux["ssh"]["publicKeys"] == [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": ED25519}]
    assert "adminPassword" not in props["osProfile"]
    assert props["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    assert props["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"]
    assert props["networkProfile"]["networkInterfaces"][0]["id"] == NIC
    assert step.body["tags"] == {OWNER_TAG: "dh1"}


def test_password_goes_in_the_body_but_never_in_the_diff():
    step = plan_vm(None, spec(admin_password=CANARY, ssh_public_keys=()))
    assert step.body["properties"]["osProfile"]["adminPassword"] == CANARY
    assert step.body["properties"]["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"] is False
    assert CANARY not in repr(step.after)
    assert CANARY not in repr(step)  # the body is kept out of repr


def test_existing_vm_is_a_noop_even_with_a_password():
    actual = as_azure_returns(plan_vm(None, spec(admin_password=CANARY)))
    step = plan_vm(actual, spec(admin_password=CANARY))  # Azure never returns it: nothing to compare
    assert step.action == "none", step.reasons


def test_size_and_tags_are_updated_in_place():
    actual = as_azure_returns(plan_vm(None, spec()))
    step = plan_vm(actual, spec(vm_size="Standard_D2s_v5", tags={"env": "test"}))
    assert (step.action, step.reasons) == ("update", ["vm_size", "tags"])
    assert step.body["properties"]["hardwareProfile"]["vmSize"] == "Standard_D2s_v5"
    assert step.body["tags"] == {"env": "test", OWNER_TAG: "dh1"}
    assert "resources" not in step.body  # extensions are not part of a VM PUT


def test_a_size_in_other_case_is_the_same_size():
    """Issue 13 item 8: Azure compares sizes without case; standard_b2s sent a VM PUT every run."""
    actual = as_azure_returns(plan_vm(None, spec()))
    actual["properties"]["hardwareProfile"]["vmSize"] = "Standard_B2s"  # Azure's spelling
    step = plan_vm(actual, spec(vm_size="standard_b2s"))
    assert step.action == "none", step.reasons
    assert step.after["vm_size"] == "Standard_B2s"  # the diff shows no change
    assert step.body["properties"]["hardwareProfile"]["vmSize"] == "Standard_B2s"
    resized = plan_vm(actual, spec(vm_size="standard_d2s_v5"))
    assert resized.reasons == ["vm_size"]


@pytest.mark.parametrize(
    ("over", "named"),
    [
        ({"admin_username": "otheruser"}, "admin_username: 'azureuser' -> 'otheruser'"),
        ({"image": parse_image("Canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest")}, "image"),
        (
            {"ssh_public_keys": (openssh(ed25519.Ed25519PrivateKey.generate()),)},
            "ssh_public_keys: differ",
        ),
        ({"admin_password": CANARY}, "admin_password (password login: False -> True)"),
        ({"location": "eastus"}, "location"),
    ],
)
def test_what_azure_cannot_change_fails_naming_it(over, named):
    actual = as_azure_returns(plan_vm(None, spec()))
    with pytest.raises(AzureDockerHostError) as info:
        plan_vm(actual, spec(**over))
    assert named in str(info.value)
    assert "state=absent" in str(info.value)
    assert CANARY not in str(info.value)


def test_failed_vm_is_put_again():
    actual = as_azure_returns(plan_vm(None, spec()))
    actual["properties"]["provisioningState"] = "Failed"
    assert plan_vm(actual, spec()).reasons == ["provisioning_state"]


@pytest.mark.parametrize(
    ("validate", "value"),
    [(validate_vm_name, "web\n"), (validate_vm_size, "Standard_B2s\n"), (validate_admin_username, "azureuser\n")],
)
def test_a_trailing_newline_is_refused(validate, value):
    with pytest.raises(InvalidOption):
        validate(value)
