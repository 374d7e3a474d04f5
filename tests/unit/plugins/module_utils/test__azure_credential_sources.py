# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where auth settings come from (task > environment > profile), and the credential decided from them."""

from __future__ import annotations

import os

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.pki import service_principal_cert
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import (
    AZURE_AUTH_ARGSPEC,
    ENV_NAMES,
    plan_credential,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_credential_sources import (
    from_environment,
    merge_settings,
    parse_profile,
    read_profile,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption

SUB = "11111111-2222-3333-4444-555555555555"
SUB2 = "22222222-2222-3333-4444-555555555555"
TENANT = "66666666-7777-8888-9999-000000000000"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
CANARY = "Cn4ry-s3cret-value"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for names in ENV_NAMES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def params(**over):
    base = {name: spec.get("default") for name, spec in AZURE_AUTH_ARGSPEC.items()}
    base.update(over)
    return base


def write_credentials(home, text: str, mode: int = 0o600) -> str:
    directory = home / ".azure"
    directory.mkdir(exist_ok=True)
    path = directory / "credentials"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


PROFILES = f"""
[default]
subscription_id = {SUB}
client_id = {APP}
secret = {CANARY}
tenant = {TENANT}

[stack]
subscription_id = {SUB2}
client_id = {APP}
tenant = {TENANT}
secret = {CANARY}
cloud_environment = https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01

[user]
subscription_id = {SUB}
ad_user = someone@example.com
password = {CANARY}
"""


def assert_no_canary(exc_info):
    assert CANARY not in str(exc_info.value)
    assert CANARY not in repr(exc_info.value)


# -- environment --------------------------------------------------------------------------------------------
def test_azure_identity_names_work_alone():
    env = {"AZURE_CLIENT_SECRET": CANARY, "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": APP}
    env["AZURE_SUBSCRIPTION_ID"] = SUB
    plan = plan_credential(params(), env)
    assert (plan.kind, plan.tenant, plan.client_id, plan.secret) == ("client_secret", TENANT, APP, CANARY)
    assert plan.sources["secret"] == "AZURE_CLIENT_SECRET"
    assert CANARY not in repr(plan)


@pytest.mark.parametrize(
    ("option", "names"),
    [("secret", ("AZURE_SECRET", "AZURE_CLIENT_SECRET")), ("tenant", ("AZURE_TENANT", "AZURE_TENANT_ID"))],
)
def test_awx_and_azure_identity_names_must_agree(option, names):
    with pytest.raises(InvalidOption) as info:
        from_environment(option, {names[0]: CANARY, names[1]: CANARY + "-other"})
    assert info.value.option == option
    assert f"{names[0]} and {names[1]} are both set, to different values" in str(info.value)
    assert_no_canary(info)
    # Equal values (tenant ids in any case) are the same setting.
    same = from_environment(option, {names[0]: "Ab", names[1]: "Ab" if option == "secret" else "aB"})
    assert same.where == names[0]


def test_a_task_option_makes_conflicting_variables_irrelevant():
    env = {"AZURE_SECRET": "one", "AZURE_CLIENT_SECRET": "two"}
    settings = merge_settings(params(secret=CANARY), env, None)
    assert (settings["secret"].value, settings["secret"].where) == (CANARY, "the task")


def test_empty_variables_are_unset():
    assert from_environment("secret", {"AZURE_SECRET": "", "AZURE_CLIENT_SECRET": "x"}).where == "AZURE_CLIENT_SECRET"
    assert merge_settings(params(client_id=""), {"AZURE_CLIENT_ID": " "}, None) == {}


# -- profiles -----------------------------------------------------------------------------------------------
def test_profile_from_option_and_from_azure_profile(clean_environment):
    path = write_credentials(clean_environment, PROFILES)
    plan = plan_credential(params(profile="default"), {})
    assert (plan.kind, plan.subscription_id, plan.client_id, plan.secret) == ("client_secret", SUB, APP, CANARY)
    assert plan.sources["secret"] == f"profile 'default' in {path}"
    stack = plan_credential(params(), {"AZURE_PROFILE": "stack"})
    assert stack.subscription_id == SUB2
    assert stack.cloud_environment.startswith("https://management.local.azurestack.external/")


def test_precedence_task_then_environment_then_profile(clean_environment):
    write_credentials(clean_environment, PROFILES)
    env = {"AZURE_SUBSCRIPTION_ID": SUB2}
    plan = plan_credential(params(profile="default"), env)
    assert plan.subscription_id == SUB2 and plan.sources["subscription_id"] == "AZURE_SUBSCRIPTION_ID"
    plan = plan_credential(params(profile="default", subscription_id=SUB), env)
    assert plan.subscription_id == SUB and plan.sources["subscription_id"] == "the task"
    # The task's profile option wins over AZURE_PROFILE.
    assert plan_credential(params(profile="default"), {"AZURE_PROFILE": "stack"}).subscription_id == SUB


def test_no_profile_named_reads_no_file(clean_environment):
    write_credentials(clean_environment, "not an ini file at all", mode=0o666)
    assert plan_credential(params(subscription_id=SUB), {}).kind == "default"


def test_service_principal_is_not_assembled_from_environment_and_profile(clean_environment):
    path = write_credentials(clean_environment, PROFILES)
    env = {"AZURE_CLIENT_ID": "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"}  # e.g. injected for a workload identity
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(profile="default"), env)
    message = str(info.value)
    assert "client_id from AZURE_CLIENT_ID" in message and f"profile 'default' in {path}" in message
    assert_no_canary(info)
    # The task may complete either source.
    plan = plan_credential(params(profile="default", client_id=APP), env)
    assert plan.client_id == APP


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (PROFILES, "prod", "no profile 'prod' in {path} (profiles there: 'default', 'stack', 'user')"),
        (PROFILES, "user", "signs in with ad_user and password"),
        (f"secret = {CANARY}\n", "default", "is not a valid INI credentials file (line 1)"),
    ],
)
def test_profile_errors_name_profile_and_file(clean_environment, text, name, expected):
    path = write_credentials(clean_environment, text)
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(profile=name), {})
    assert info.value.option == "profile"
    assert expected.format(path=path) in str(info.value)
    assert_no_canary(info)


def test_missing_file_and_unsafe_file(clean_environment):
    with pytest.raises(InvalidOption, match=r"profile 'default' was asked for, but .*/\.azure/credentials does not"):
        plan_credential(params(profile="default"), {})
    path = write_credentials(clean_environment, PROFILES, mode=0o622)
    with pytest.raises(InvalidOption, match="writable by other users"):
        read_profile("default", path)
    os.chmod(path, 0o600)
    with open(path, "a") as handle:
        handle.write("#" * 70000)
    with pytest.raises(InvalidOption, match="larger than"):
        read_profile("default", path)


def test_missing_key_names_profile_and_variables(clean_environment):
    path = write_credentials(clean_environment, f"[half]\nsubscription_id = {SUB}\nsecret = {CANARY}\n")
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(profile="half"), {})
    assert info.value.option == "client_id"
    assert f"client_id (or AZURE_CLIENT_ID, or in profile 'half' in {path})" in str(info.value)
    assert "tenant (or AZURE_TENANT / AZURE_TENANT_ID" in str(info.value)
    assert_no_canary(info)


def test_profile_keys_as_azure_azcollection_writes_them():
    text = "[p]\nx509_certificate_path = /certs/sp.pem\nthumbprint = AB\ncert_validation_mode = ignore\n"
    text += f"secret = {CANARY}\n"
    profile = parse_profile(text, "p", "/f")
    assert profile.values == {"client_certificate_path": "/certs/sp.pem", "secret": CANARY}
    assert CANARY not in repr(profile)


# -- certificates ----------------------------------------------------------------------------------------------
def sp_env(**extra):
    return {"AZURE_SUBSCRIPTION_ID": SUB, "AZURE_CLIENT_ID": APP, "AZURE_TENANT_ID": TENANT, **extra}


def test_certificate_from_environment(tmp_path):
    cert = service_principal_cert(str(tmp_path / "sp.pem"), password=CANARY.encode())
    env = sp_env(AZURE_CLIENT_CERTIFICATE_PATH=cert.bundle, AZURE_CLIENT_CERTIFICATE_PASSWORD=CANARY)
    plan = plan_credential(params(), env)
    assert plan.kind == "client_certificate"
    assert plan.certificate == open(cert.bundle, "rb").read()  # noqa: SIM115 - the bytes that were checked
    assert plan.secrets == (CANARY,) and plan.secret is None
    assert CANARY not in repr(plan) and "PRIVATE" not in repr(plan)


def test_certificate_from_profile_with_tilde(clean_environment):
    service_principal_cert(str(clean_environment / "sp.pem"))
    write_credentials(
        clean_environment,
        f"[cert]\nsubscription_id = {SUB}\nclient_id = {APP}\ntenant = {TENANT}\nclient_certificate_path = ~/sp.pem\n",
    )
    plan = plan_credential(params(profile="cert"), {})
    assert plan.kind == "client_certificate" and plan.certificate_path == str(clean_environment / "sp.pem")


def test_secret_and_certificate_together_are_refused(tmp_path):
    cert = service_principal_cert(str(tmp_path / "sp.pem"))
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(client_certificate_path=cert.bundle), sp_env(AZURE_SECRET=CANARY))
    assert info.value.option == "client_certificate_path"
    assert "AZURE_SECRET" in str(info.value) and "the task" in str(info.value)
    assert_no_canary(info)


def test_certificate_password_needs_a_path():
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(), sp_env(AZURE_CLIENT_CERTIFICATE_PASSWORD=CANARY))
    assert info.value.option == "client_certificate_password"
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" in str(info.value)
    assert_no_canary(info)


def test_bad_certificate_names_the_source_variable(tmp_path):
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(), sp_env(AZURE_CLIENT_CERTIFICATE_PATH=str(tmp_path / "missing.pem")))
    assert info.value.option == "client_certificate_path"
    assert "from AZURE_CLIENT_CERTIFICATE_PATH" in str(info.value)


def test_certificate_password_is_not_taken_from_another_source(clean_environment, tmp_path):
    cert = service_principal_cert(str(tmp_path / "sp.pem"))
    write_credentials(clean_environment, f"[p]\nclient_certificate_password = {CANARY}\n")
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(profile="p"), sp_env(AZURE_CLIENT_CERTIFICATE_PATH=cert.bundle))
    assert info.value.option == "client_certificate_password"
    assert "client_certificate_path from AZURE_CLIENT_CERTIFICATE_PATH" in str(info.value)
    assert_no_canary(info)


@pytest.mark.parametrize(
    ("env", "option"),
    [
        ({"AZURE_SUBSCRIPTION_ID": "my-subscription"}, "subscription_id"),
        ({"AZURE_TENANT_ID": "bad tenant!"}, "tenant"),
        ({"AZURE_CLOUD_ENVIRONMENT": "http://stack.local/metadata/endpoints"}, "cloud_environment"),
    ],
)
def test_bad_values_from_the_environment_name_the_variable(env, option):
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(subscription_id=SUB) if option != "subscription_id" else params(), env)
    assert info.value.option == option
    assert f"(set by {next(iter(env))})" in str(info.value)
