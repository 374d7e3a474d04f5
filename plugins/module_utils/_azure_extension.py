# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM extension that installs Docker and gives its daemon the TLS certificates.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

What each install method sends is in ``_azure_install_methods``; this file plans and applies it.
Certificates and key only ever travel in protectedSettings, which Azure never returns; so that a change
is still seen, the extension's forceUpdateTag carries the method's public fingerprints (SHA-256 of the
server and CA certificates, of the install script, and the port). Never a hash of the key: the
certificate already changes with it.
"""

from __future__ import annotations

import datetime
import hashlib
import traceback
from dataclasses import dataclass, field

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import (
    INSTALL_METHODS,
    InstallMethod,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    OWNER_TAG,
    Step,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    Deadline,
    InvalidOption,
    delete_and_wait,
    get_or_none,
    put_and_wait,
)

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID
except ImportError:
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
    x509 = serialization = ExtendedKeyUsageOID = None

    class _CryptographyMissingError(Exception):
        """Placeholder: nothing here runs without cryptography (the module fails first)."""

    InvalidSignature = UnsupportedAlgorithm = _CryptographyMissingError
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

__all__ = [
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "CertificateSet",
    "ExtensionFailed",
    "delete_extension",
    "extension_outcome",
    "failure_text",
    "get_extension",
    "list_extensions",
    "load_certificates",
    "names_host",
    "parse_update_tag",
    "plan_extensions",
    "put_extension",
]

_TAIL_LINES = 20
_TAIL_CHARS = 2000


class ExtensionFailed(AzureDockerHostError):
    """The extension ran on the VM and failed; carries its outcome for the task result."""

    def __init__(self, message: str, outcome: dict):
        super().__init__(message)
        self.outcome = outcome


# -- certificates --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CertificateSet:
    """The daemon's TLS material, read and checked; ``key_pem`` is secret and never shown."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    ca_sha256: str
    server_sha256: str
    server_dns_names: tuple[str, ...]


def _read(option: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise InvalidOption(option, f"file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise InvalidOption(option, f"{path} is a directory, not a PEM file") from exc
    except OSError as exc:
        raise InvalidOption(option, f"cannot read {path}: {exc.strerror}") from exc


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _issued_by(cert, ca) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _extension_value(cert, extension_class):
    try:
        return cert.extensions.get_extension_for_class(extension_class).value
    except x509.ExtensionNotFound:
        return None


def _load_cas(path: str) -> list:
    try:
        cas = x509.load_pem_x509_certificates(_read("ca_cert", path))
    except ValueError as exc:
        raise InvalidOption("ca_cert", f"{path} holds no PEM certificate") from exc
    for ca in cas:
        constraints = _extension_value(ca, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            raise InvalidOption("ca_cert", f"{path} holds a certificate that is not a CA (no basicConstraints CA:TRUE)")
    return cas


def _load_pair(cert_path: str, key_path: str):
    try:
        cert = x509.load_pem_x509_certificate(_read("server_cert", cert_path))
    except ValueError as exc:
        raise InvalidOption("server_cert", f"{cert_path} holds no PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(_read("server_key", key_path), password=None)
    except TypeError as exc:
        raise InvalidOption("server_key", f"{key_path} is encrypted; dockerd needs an unencrypted key") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidOption("server_key", f"{key_path} is not a PEM private key") from exc
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise InvalidOption("server_key", f"{key_path} is not the key of the certificate in {cert_path}")
    return cert, key


def load_certificates(
    ca_path: str, cert_path: str, key_path: str, now: datetime.datetime | None = None
) -> CertificateSet:
    """Read and check the daemon's CA, certificate and key (as docker_tls_certs writes them).

    Fails naming the option: missing or unreadable file, not PEM, encrypted key, a key that does not belong
    to the certificate, a certificate the CA did not issue, an expired certificate, a client-only certificate.
    Messages name paths, never contents.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    cas = _load_cas(ca_path)
    cert, key = _load_pair(cert_path, key_path)
    if not any(_issued_by(cert, ca) for ca in cas):
        raise InvalidOption(
            "server_cert",
            f"{cert_path} was not issued by the CA in {ca_path}; clients trusting that CA would reject it",
        )
    # not_valid_after_utc exists from cryptography 42; the naive attribute (UTC) before it.
    expires = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.UTC)
    if expires <= now:
        raise InvalidOption("server_cert", f"{cert_path} expired on {expires:%Y-%m-%d %H:%M} UTC")
    usages = _extension_value(cert, x509.ExtendedKeyUsage)
    if usages is not None and ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        raise InvalidOption(
            "server_cert", f"{cert_path} is not a server certificate (extendedKeyUsage lacks serverAuth)"
        )
    sans = _extension_value(cert, x509.SubjectAlternativeName)
    return CertificateSet(
        ca_pem=b"".join(ca.public_bytes(serialization.Encoding.PEM) for ca in cas),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        ca_sha256=hashlib.sha256(b"".join(ca.public_bytes(serialization.Encoding.DER) for ca in cas)).hexdigest(),
        server_sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        server_dns_names=tuple(sans.get_values_for_type(x509.DNSName)) if sans is not None else (),
    )


def names_host(dns_names: tuple[str, ...], host: str) -> bool:
    """Whether a certificate's DNS names cover ``host`` (one-label wildcards as TLS clients match them)."""
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in dns_names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


# -- the extension's plan ------------------------------------------------------------------------------
_TAG_PREFIX = "dockerhost"


def _update_tag(prints: dict[str, str], run: int) -> str:
    parts = [f"{key}={value}" for key, value in prints.items()]
    if run:
        parts.append(f"run={run}")
    return f"{_TAG_PREFIX}:" + ";".join(parts)


def parse_update_tag(tag: str | None) -> dict[str, str]:
    """``dockerhost:port=2376;cert=...;ca=...;script=...[;run=N]`` as a dict (empty when not ours)."""
    if not tag or not tag.startswith(f"{_TAG_PREFIX}:"):
        return {}
    pairs = (part.partition("=") for part in tag[len(_TAG_PREFIX) + 1 :].split(";") if part)
    return {key: value for key, _sep, value in pairs}


def _major_minor(version: str | None) -> str:
    return ".".join((version or "").split(".")[:2])


def _state(resource: dict) -> dict:
    props = resource.get("properties") or {}
    tag = parse_update_tag(props.get("forceUpdateTag"))
    tag.pop("run", None)
    return {
        "publisher": props.get("publisher"),
        "type": props.get("type"),
        "type_handler_version": _major_minor(props.get("typeHandlerVersion")),
        "settings": props.get("settings") or {},
        "fingerprints": tag,
        "provisioning_state": props.get("provisioningState"),
    }


def _find(extensions: list[dict], method: InstallMethod) -> dict | None:
    for ext in extensions:
        props = ext.get("properties") or {}
        if (ext.get("name") or "").lower() == method.name.lower() and (
            props.get("type") or ""
        ).lower() == method.type.lower():
            return ext
    return None


def plan_extensions(
    extensions: list[dict], *, method: InstallMethod, port: int, certs: CertificateSet, location: str, vm_name: str
) -> list[Step]:
    """Steps for the VM's extensions: remove another install method's extension if it is there, then ours.

    The extension carries only the ownership tag (user tags would re-run it for nothing).
    """
    steps = []
    for other in INSTALL_METHODS.values():
        if other.option == method.option:
            continue
        found = _find(extensions, other)
        if found is not None:
            steps.append(Step("extension", found["name"], "delete", before=_state(found), after=None))

    prints = method.fingerprints(port, certs)
    after = {
        "publisher": method.publisher,
        "type": method.type,
        "type_handler_version": method.version,
        "settings": method.settings(port),
        "fingerprints": prints,
        "provisioning_state": "Succeeded",
    }
    actual = _find(extensions, method)
    run = 0
    if actual is None:
        action, before, reasons = "create", None, []
    else:
        before = _state(actual)
        reasons = [key for key in after if key not in ("publisher", "type") and before.get(key) != after.get(key)]
        if (before["publisher"] or "").lower() != method.publisher.lower():
            reasons.append("publisher")
        action = "update" if reasons else "none"
        if reasons == ["provisioning_state"]:
            # Same settings after a failure: Azure re-runs an extension only when something changes.
            run = int(parse_update_tag((actual.get("properties") or {}).get("forceUpdateTag")).get("run", "0") or 0) + 1
    body = {
        "location": location,
        "tags": {OWNER_TAG: vm_name},
        "properties": {
            "publisher": method.publisher,
            "type": method.type,
            "typeHandlerVersion": method.version,
            "autoUpgradeMinorVersion": True,
            "forceUpdateTag": _update_tag(prints, run),
            "settings": method.settings(port),
            "protectedSettings": method.protected_settings(port, certs),
        },
    }
    steps.append(Step("extension", method.name, action, before=before, after=after, body=body, reasons=reasons))
    return steps


# -- outcome -------------------------------------------------------------------------------------------
def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:])[-_TAIL_CHARS:]


def failure_text(resource: dict | None) -> str:
    """What a failed extension said: status messages and the script's stderr tail."""
    view = ((resource or {}).get("properties") or {}).get("instanceView") or {}
    parts = []
    for status in view.get("statuses") or []:
        if status.get("message"):
            parts.append(_tail(str(status["message"])))
    for status in view.get("substatuses") or []:
        code = str(status.get("code") or "")
        if "stderr" in code.lower() and status.get("message"):
            parts.append("stderr:\n" + _tail(str(status["message"])))
    return "\n".join(p for p in parts if p) or "no status message was reported"


def extension_outcome(resource: dict | None, method: InstallMethod) -> dict:
    """The ``extension`` return value."""
    props = (resource or {}).get("properties") or {}
    statuses = (props.get("instanceView") or {}).get("statuses") or []
    message = next((str(s.get("message")) for s in statuses if s.get("message")), None)
    return {
        "name": method.name,
        "type": f"{method.publisher}.{method.type}",
        "provisioning_state": props.get("provisioningState"),
        "status_message": _tail(message) if message else None,
    }


# -- SDK -----------------------------------------------------------------------------------------------
def list_extensions(clients, resource_group: str, vm_name: str, deadline: Deadline) -> list[dict]:
    """The VM's extensions with their instance view, in one request (none when the VM does not exist)."""
    result = get_or_none(
        f"list extensions of virtual machine {vm_name!r}",
        clients.compute.virtual_machine_extensions.list,
        resource_group,
        vm_name,
        expand="instanceView",
        deadline=deadline,
    )
    return list((result or {}).get("value") or [])


def get_extension(clients, resource_group: str, vm_name: str, name: str, deadline: Deadline) -> dict | None:
    return get_or_none(
        f"read extension {name!r}",
        clients.compute.virtual_machine_extensions.get,
        resource_group,
        vm_name,
        name,
        expand="instanceView",
        deadline=deadline,
    )


def put_extension(clients, step: Step, resource_group: str, vm_name: str, deadline: Deadline) -> dict:
    return put_and_wait(
        f"{step.action} extension {step.name!r} on {vm_name!r}",
        clients.compute.virtual_machine_extensions.begin_create_or_update,
        resource_group,
        vm_name,
        step.name,
        step.body,
        deadline=deadline,
    )


def delete_extension(clients, resource_group: str, vm_name: str, name: str, deadline: Deadline) -> None:
    delete_and_wait(
        f"delete extension {name!r} from {vm_name!r}",
        clients.compute.virtual_machine_extensions.begin_delete,
        resource_group,
        vm_name,
        name,
        deadline=deadline,
    )
