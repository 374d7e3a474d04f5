# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Credentials and clouds: the pure decisions, the credential objects, and the metadata read over TLS."""

from __future__ import annotations

import http.server
import json
import ssl
import threading

import pytest
import yaml
from azure.identity import (
    AzureCliCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
)

from ansible_collections.dockerhost.azure.plugins.doc_fragments.azure import ModuleDocFragment
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import (
    AZURE_AUTH_ARGSPEC,
    ENV_NAMES,
    Cloud,
    build_credential,
    known_cloud,
    parse_cloud_metadata,
    plan_credential,
    resolve_cloud,
    validate_cloud_environment,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import AzureDockerHostError, InvalidOption

SUB = "11111111-2222-3333-4444-555555555555"
TENANT = "66666666-7777-8888-9999-000000000000"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No AZURE_* of the machine running the tests, and a HOME without ~/.azure."""
    for names in ENV_NAMES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def params(**over):
    base = {name: spec.get("default") for name, spec in AZURE_AUTH_ARGSPEC.items()}
    base.update(subscription_id=SUB, cloud_environment="AzureCloud")
    base.update(over)
    return base


# -- the option set is documented once, as it is defined ------------------------------------------------------
def test_doc_fragment_matches_argspec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(AZURE_AUTH_ARGSPEC)
    for name, spec in AZURE_AUTH_ARGSPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
        assert documented[name].get("choices") == spec.get("choices"), name
        assert "fallback" not in spec, name  # the environment is read by plan_credential (conflicts, sources)
        # Every environment name is documented with semantic markup.
        for env in ENV_NAMES.get(name, ()):
            assert f"E({env})" in " ".join(documented[name]["description"]), (name, env)
    assert AZURE_AUTH_ARGSPEC["secret"]["no_log"] is True
    assert AZURE_AUTH_ARGSPEC["client_certificate_password"]["no_log"] is True


def test_environment_names_awx_and_azure_identity():
    assert ENV_NAMES["subscription_id"] == ("AZURE_SUBSCRIPTION_ID",)
    assert ENV_NAMES["client_id"] == ("AZURE_CLIENT_ID",)
    assert ENV_NAMES["secret"] == ("AZURE_SECRET", "AZURE_CLIENT_SECRET")
    assert ENV_NAMES["tenant"] == ("AZURE_TENANT", "AZURE_TENANT_ID")
    assert ENV_NAMES["client_certificate_path"] == ("AZURE_CLIENT_CERTIFICATE_PATH",)
    assert ENV_NAMES["client_certificate_password"] == ("AZURE_CLIENT_CERTIFICATE_PASSWORD",)
    assert ENV_NAMES["cloud_environment"] == ("AZURE_CLOUD_ENVIRONMENT",)
    assert ENV_NAMES["profile"] == ("AZURE_PROFILE",)


# -- clouds ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "arm", "authority"),
    [
        ("AzureCloud", "https://management.azure.com", "login.microsoftonline.com"),
        ("azurepubliccloud", "https://management.azure.com", "login.microsoftonline.com"),
        ("AzureChinaCloud", "https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
        ("AzureUSGovernment", "https://management.usgovcloudapi.net", "login.microsoftonline.us"),
    ],
)
def test_known_clouds(name, arm, authority):
    cloud = resolve_cloud(validate_cloud_environment(name))
    assert (cloud.resource_manager, cloud.authority, cloud.custom) == (arm, authority, False)
    assert cloud.scopes == [f"{arm}/.default"]


@pytest.mark.parametrize("value", ["AzureGermanCloud", "public", "http://stack.local/metadata/endpoints", "https://"])
def test_bad_cloud_environment_names_the_option(value):
    with pytest.raises(InvalidOption) as info:
        validate_cloud_environment(value)
    assert info.value.option == "cloud_environment"


METADATA_2022 = [
    {
        "name": "AzureCloud",
        "resourceManager": "https://management.azure.com/",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com",
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
    },
    {
        "name": "AzureChinaCloud",
        "resourceManager": "https://management.chinacloudapi.cn",
        "authentication": {
            "loginEndpoint": "https://login.chinacloudapi.cn",
            "audiences": ["https://management.core.chinacloudapi.cn"],
            "identityProvider": "AAD",
        },
    },
]


def test_metadata_2022_list_picks_the_cloud_served_by_the_url_host():
    cloud = parse_cloud_metadata(
        "https://management.azure.com/metadata/endpoints?api-version=2022-09-01", METADATA_2022
    )
    assert cloud.name == "AzureCloud"
    assert cloud.resource_manager == "https://management.azure.com"
    assert cloud.authority == "https://login.microsoftonline.com"
    assert cloud.scopes == ["https://management.core.windows.net/.default"]
    assert cloud.custom is True
    assert cloud.tenant_override is None


def test_metadata_2022_single_cloud_on_another_host():
    only = [dict(METADATA_2022[1], resourceManager="https://arm.example/")]
    cloud = parse_cloud_metadata("https://meta.example/metadata/endpoints?api-version=2022-09-01", only)
    assert cloud.resource_manager == "https://arm.example"


def test_metadata_2022_ambiguous_list_is_an_error():
    with pytest.raises(AzureDockerHostError, match="AzureCloud, AzureChinaCloud"):
        parse_cloud_metadata("https://elsewhere.example/metadata/endpoints", METADATA_2022)


def test_metadata_2015_object_is_served_by_the_resource_manager():
    doc = {
        "galleryEndpoint": "https://portal.local.azurestack.external:30015/",
        "graphEndpoint": "https://graph.windows.net/",
        "portalEndpoint": "https://portal.local.azurestack.external/",
        "authentication": {
            "loginEndpoint": "https://login.microsoftonline.com/",
            "audiences": ["https://management.contoso.onmicrosoft.com/4de154de-f8a8-4017-af41-df619da68155"],
        },
    }
    url = "https://management.local.azurestack.external/metadata/endpoints?api-version=2015-01-01"
    cloud = parse_cloud_metadata(url, doc)
    assert cloud.resource_manager == "https://management.local.azurestack.external"
    assert cloud.authority == "https://login.microsoftonline.com"
    assert cloud.scopes == ["https://management.contoso.onmicrosoft.com/4de154de-f8a8-4017-af41-df619da68155/.default"]


def test_metadata_adfs_stack_uses_tenant_adfs():
    doc = {
        "authentication": {"loginEndpoint": "https://adfs.local.azurestack.external/adfs/", "audiences": ["https://x/"]}
    }
    cloud = parse_cloud_metadata("https://management.local.azurestack.external/metadata/endpoints", doc)
    assert cloud.authority == "https://adfs.local.azurestack.external"
    assert cloud.tenant_override == "adfs"


@pytest.mark.parametrize("doc", [{}, {"authentication": {"loginEndpoint": "https://l/"}}, "nope", []])
def test_metadata_without_endpoints_is_an_error(doc):
    with pytest.raises(AzureDockerHostError):
        parse_cloud_metadata("https://m.example/metadata/endpoints", doc)


@pytest.fixture
def metadata_server(test_ca, tmp_path):
    """A real HTTPS metadata endpoint whose certificate only the test CA vouches for."""
    pair = test_ca.server("meta", ip_addresses=("127.0.0.1",))
    body = json.dumps(METADATA_2022[:1]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/metadata/endpoints?api-version=2022-09-01"
    server.shutdown()


def test_metadata_url_trusts_a_private_ca_through_requests_ca_bundle(metadata_server, test_ca, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", test_ca.cert_path)
    cloud = resolve_cloud(metadata_server)
    assert cloud.resource_manager == "https://management.azure.com"  # the only cloud listed


def test_metadata_url_with_unknown_ca_says_how_to_trust_it(metadata_server, monkeypatch, tmp_path):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(AzureDockerHostError, match="REQUESTS_CA_BUNDLE"):
        resolve_cloud(metadata_server, timeout=5)


# -- credentials -------------------------------------------------------------------------------------------
def test_auto_with_full_service_principal():
    plan = plan_credential(params(client_id="app", secret="s3cr3t", tenant=TENANT))
    assert plan.kind == "client_secret"
    assert "s3cr3t" not in repr(plan)


def test_auto_without_service_principal_uses_default_chain():
    assert plan_credential(params()).kind == "default"
    assert plan_credential(params(client_id="app")).kind == "default"  # e.g. a user-assigned identity


@pytest.mark.parametrize(
    ("over", "option"),
    [
        ({"secret": "s", "tenant": TENANT}, "client_id"),
        ({"secret": "s", "client_id": "app"}, "tenant"),
        ({"auth_source": "env", "client_id": "app", "tenant": TENANT}, "secret"),
        ({"auth_source": "env"}, "client_id"),
        ({"subscription_id": None}, "subscription_id"),
        ({"subscription_id": "my-subscription"}, "subscription_id"),
        ({"tenant": "bad tenant!"}, "tenant"),
    ],
)
def test_incomplete_or_bad_credentials_name_the_option(over, option):
    with pytest.raises(InvalidOption) as info:
        plan_credential(params(**over))
    assert info.value.option == option
    assert "AZURE_" in str(info.value) or option in ("subscription_id", "tenant")


def test_cli_may_leave_the_subscription_to_az():
    plan = plan_credential(params(auth_source="cli", subscription_id=None))
    assert (plan.kind, plan.subscription_id) == ("cli", None)


CUSTOM = Cloud("Stack", "https://arm.example", "https://login.example", "https://arm.example/", custom=True)


def test_build_credentials():
    sp = build_credential(plan_credential(params(client_id="app", secret="s", tenant=TENANT)), CUSTOM)
    assert isinstance(sp, ClientSecretCredential)
    # Where tokens come from, and no instance discovery (Azure Stack Hub does not serve it).
    assert vars(sp)["_authority"] == "https://login.example"
    assert vars(sp)["_instance_discovery"] is False
    assert isinstance(build_credential(plan_credential(params(auth_source="cli")), CUSTOM), AzureCliCredential)
    assert isinstance(build_credential(plan_credential(params(auth_source="msi")), CUSTOM), ManagedIdentityCredential)
    assert isinstance(build_credential(plan_credential(params()), known_cloud("AzureCloud")), DefaultAzureCredential)


def test_workload_identity_needs_its_token_file(monkeypatch):
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
    with pytest.raises(AzureDockerHostError, match="AZURE_FEDERATED_TOKEN_FILE"):
        build_credential(plan_credential(params(auth_source="workload_identity", client_id="a", tenant=TENANT)), CUSTOM)
