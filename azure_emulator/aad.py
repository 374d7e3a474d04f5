# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure AD (client credentials: a secret or a certificate's client assertion), the cloud metadata document,
and ARM's bearer-token check.

Errors copy Azure AD's shape and codes: ``{"error", "error_description": "AADSTSnnnn: ...", "error_codes",
"timestamp", "trace_id", "correlation_id", "error_uri"}``; ARM's 401s use ARM's error codes
(AuthenticationFailed, InvalidAuthenticationToken, ExpiredAuthenticationToken,
InvalidAuthenticationTokenAudience, InvalidAuthenticationTokenTenant).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field

from .client_assertion import AssertionRejected, KeyCredential, parse_key_credential, verify_client_assertion
from .core import ArmError, Request, Response, new_id

__all__ = ["Identity", "check_bearer", "metadata_response", "openid_configuration", "token_response"]

TOKEN_LIFETIME = 3599
# The audience the emulator's metadata names: clients must read it from there (a client that hard-codes
# public Azure's audience gets InvalidAuthenticationTokenAudience, as it would from Azure Stack Hub).
AUDIENCE = "https://management.emulator.dockerhost.test/"


@dataclass
class Identity:
    """The one tenant, service principal and subscription the emulator knows."""

    tenant_id: str = field(default_factory=new_id)
    client_id: str = field(default_factory=new_id)
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    subscription_id: str = field(default_factory=new_id)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    object_id: str = field(default_factory=new_id)
    # Certificates registered on the application (public parts; see client_assertion.py).
    key_credentials: list[KeyCredential] = field(default_factory=list)

    def add_certificate(self, pem: str) -> dict:
        """Register a certificate for the client (ValueError if it is not one Entra ID would take)."""
        key = parse_key_credential(pem)
        if all(known.thumbprint != key.thumbprint for known in self.key_credentials):
            self.key_credentials.append(key)
        return key.describe()

    def certificates(self) -> list[dict]:
        return [key.describe() for key in self.key_credentials]

    @property
    def audiences(self) -> tuple[str, ...]:
        return (AUDIENCE, AUDIENCE.rstrip("/"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AadError(Exception):
    """An Azure AD error answer (raised inside the token flow, answered by the dispatcher)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.body["error_description"])
        self.response = response


def _aad_error(status: int, error: str, code: int, description: str) -> AadError:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = new_id(), new_id()
    return AadError(
        Response(
            status,
            {
                "error": error,
                "error_description": (
                    f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}"
                    f"\r\nTimestamp: {now}"
                ),
                "error_codes": [code],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
        )
    )


def metadata_response(request: Request, endpoint: str) -> Response:
    """``GET /metadata/endpoints``: the 2015-01-01 (Azure Stack Hub) object or the 2022-09-01 list of clouds."""
    version = request.api_version
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    audiences = [AUDIENCE]
    if version < "2019-05-01":
        return Response(
            200,
            {
                "galleryEndpoint": f"{endpoint}/gallery/",
                "graphEndpoint": f"{endpoint}/graph/",
                "portalEndpoint": f"{endpoint}/portal/",
                "authentication": {"loginEndpoint": f"{endpoint}/", "audiences": audiences},
            },
        )
    cloud = {
        "portal": f"{endpoint}/portal",
        "authentication": {
            "loginEndpoint": f"{endpoint}/",
            "audiences": audiences,
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "media": f"{endpoint}/media/",
        "graphAudience": f"{endpoint}/graph/",
        "graph": f"{endpoint}/graph/",
        "name": "AzureEmulator",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "datalake.emulator.test",
            "acrLoginServer": "acr.emulator.test",
            "sqlServerHostname": "database.emulator.test",
            "azureDataLakeAnalyticsCatalogAndJob": "datalakeanalytics.emulator.test",
            "keyVaultDns": "vault.emulator.test",
            "storage": "storage.emulator.test",
            "azureFrontDoorEndpointSuffix": "frontdoor.emulator.test",
            "storageSyncEndpointSuffix": "storagesync.emulator.test",
            "mhsmDns": "managedhsm.emulator.test",
            "mysqlServerEndpoint": "mysql.emulator.test",
            "postgresqlServerEndpoint": "postgres.emulator.test",
            "mariadbServerEndpoint": "mariadb.emulator.test",
            "synapseAnalytics": "synapse.emulator.test",
            "attestationEndpoint": "attest.emulator.test",
        },
        "batch": f"{endpoint}/batch/",
        "resourceManager": f"{endpoint}/",
        "vmImageAliasDoc": f"{endpoint}/vmImageAliasDoc.json",
        "activeDirectoryDataLake": f"{endpoint}/datalake/",
        "sqlManagement": f"{endpoint}/sql/",
        "microsoftGraphResourceId": f"{endpoint}/msgraph/",
        "appInsightsResourceId": f"{endpoint}/appinsights/",
        "appInsightsTelemetryChannelResourceId": f"{endpoint}/appinsights-telemetry/",
        "attestationResourceId": f"{endpoint}/attestation/",
        "synapseAnalyticsResourceId": f"{endpoint}/synapse/",
        "logAnalyticsResourceId": f"{endpoint}/loganalytics/",
        "ossrDbmsResourceId": f"{endpoint}/ossrdbms/",
        "gallery": f"{endpoint}/gallery/",
    }
    return Response(200, [cloud])


def openid_configuration(endpoint: str, tenant: str, identity: Identity) -> Response:
    if tenant.lower() not in (identity.tenant_id, "common", "organizations"):
        return _aad_error(400, "invalid_tenant", 90002, _tenant_not_found(tenant)).response
    base = f"{endpoint}/{tenant}"
    return Response(
        200,
        {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{endpoint}/{identity.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "tenant_region_scope": None,
            "cloud_instance_name": "emulator.test",
        },
    )


def _tenant_not_found(tenant: str) -> str:
    return (
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant."
    )


def _resource_of(scope: str) -> str | None:
    for suffix in ("/.default", ".default"):
        if scope.endswith(suffix):
            return scope[: -len(suffix)]
    return None


def token_response(request: Request, tenant: str, identity: Identity, endpoint: str = "") -> Response:
    """``POST /{tenant}/oauth2/v2.0/token``, ``grant_type=client_credentials``, a secret or a client assertion."""
    form = {k: v[-1] for k, v in urllib.parse.parse_qs(request.body.decode(errors="replace")).items()}
    try:
        _check_client(form, tenant, identity, endpoint)
        resource = _requested_resource(form, identity)
    except AadError as exc:
        return exc.response
    return _issue(resource, identity)


def _check_client(form: dict[str, str], tenant: str, identity: Identity, endpoint: str) -> None:
    if tenant.lower() != identity.tenant_id:
        raise _aad_error(400, "invalid_request", 90002, _tenant_not_found(tenant))
    grant = form.get("grant_type")
    if not grant:
        raise _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
        )
    if grant != "client_credentials":
        raise _aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
    assertion = form.get("client_assertion")
    if assertion is not None and form.get("client_secret") is not None:
        raise _aad_error(
            400,
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid. Send either 'client_assertion' or 'client_secret'.",
        )
    client_id = form.get("client_id", "")
    if not client_id and assertion is not None:  # RFC 7521: the assertion's issuer names the client
        client_id = _assertion_issuer(assertion)
    if not client_id:
        raise _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
        )
    if client_id.lower() != identity.client_id:
        raise _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{identity.tenant_id}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the wrong "
            "tenant.",
        )
    if assertion is not None:
        base = f"{endpoint}/{tenant}/oauth2"
        try:
            verify_client_assertion(
                form,
                client_id=identity.client_id,
                keys=identity.key_credentials,
                token_endpoints=(f"{base}/v2.0/token", f"{base}/token"),
            )
        except AssertionRejected as exc:
            raise _aad_error(exc.status, exc.error, exc.code, exc.description) from exc
        return
    secret = form.get("client_secret")
    if secret is None:
        raise _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if not hmac.compare_digest(secret.encode(), identity.client_secret.encode()):
        raise _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{identity.client_id}'.",
        )


def _assertion_issuer(assertion: str) -> str:
    try:
        claims = json.loads(_unb64(assertion.split(".")[1]))
    except (ValueError, IndexError):
        return ""
    return str(claims.get("iss", "")) if isinstance(claims, dict) else ""


def _requested_resource(form: dict[str, str], identity: Identity) -> str:
    scopes = form.get("scope", "").split()
    if not scopes:
        raise _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
        )
    resources = [_resource_of(scope) for scope in scopes if scope not in ("openid", "profile", "offline_access")]
    if len(resources) != 1 or resources[0] is None:
        raise _aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {form['scope']} is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
        )
    resource = resources[0]
    if resource.rstrip("/") + "/" != AUDIENCE:
        raise _aad_error(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant named {identity.tenant_id}. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You might have sent your authentication request to the wrong "
            "tenant.",
        )
    return resource


def _issue(resource: str, identity: Identity) -> Response:
    now = int(time.time())
    claims = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{identity.tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": now + TOKEN_LIFETIME,
        "appid": identity.client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": identity.object_id,
        "sub": identity.object_id,
        "tid": identity.tenant_id,
        "ver": "1.0",
    }
    return Response(
        200,
        {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": _sign(claims, identity.signing_key),
        },
    )


def _sign(claims: dict, key: bytes) -> str:
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _challenge(description: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": (
            f'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
            f'error_description="{description}"'
        )
    }


def check_bearer(request: Request, identity: Identity) -> dict:
    """Validate ``Authorization: Bearer`` as ARM does; return the token's claims or raise a 401 ArmError."""
    header = request.header("authorization")
    if not header:
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            headers=_challenge("The authentication failed because of missing 'Authorization' header."),
        )
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            headers=_challenge("The authentication failed because of invalid 'Authorization' header."),
        )
    head, payload, signature = token.strip().split(".")
    expected = hmac.new(identity.signing_key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    try:
        valid = hmac.compare_digest(_unb64(signature), expected)
        claims = json.loads(_unb64(payload))
    except ValueError:
        valid, claims = False, {}
    if not valid:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            headers=_challenge("The access token is invalid."),
        )
    now = time.time()
    if claims.get("exp", 0) < now:
        expiry = datetime.datetime.fromtimestamp(claims.get("exp", 0), datetime.UTC)
        raise ArmError(
            401,
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{expiry:%m/%d/%Y %I:%M:%S %p}' is earlier than current UTC time "
            f"'{datetime.datetime.now(datetime.UTC):%m/%d/%Y %I:%M:%S %p}'.",
            headers=_challenge("The access token has expired."),
        )
    if claims.get("aud") not in identity.audiences:
        allowed = ",".join(f"'{aud}'" for aud in identity.audiences)
        raise ArmError(
            401,
            "InvalidAuthenticationTokenAudience",
            f"The access token has been obtained for wrong audience or resource '{claims.get('aud')}'. It should "
            f"exactly match with one of the allowed audiences {allowed}.",
            headers=_challenge("The access token has been obtained for wrong audience or resource."),
        )
    if claims.get("tid") != identity.tenant_id:
        raise ArmError(
            401,
            "InvalidAuthenticationTokenTenant",
            f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the tenant "
            f"'https://sts.windows.net/{identity.tenant_id}/' associated with this subscription.",
            headers=_challenge("The access token is from the wrong issuer."),
        )
    return claims
