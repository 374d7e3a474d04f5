# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install methods: how a VM extension installs Docker and gives its daemon the TLS certificates.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

One class per method, named by the ``docker_install`` value it implements. Adding a method is a class
here, one entry in :data:`INSTALL_METHODS`, and its paragraph in the module's ``docker_install`` option.
A method says which extension it is, what goes in its public settings (never a secret), what goes in its
protected settings (the certificates and key: Azure never returns them), and which public fingerprints
must re-run it when they change (port, SHA-256 of the server and CA certificates, anything else it ships).

The entries of :data:`INSTALL_METHODS` are the methods with no per-host configuration; :meth:`configured`
returns one carrying the request's ``daemon_options`` (only ``custom_script`` accepts any), so the
extension's planner keeps asking a method for its settings and fingerprints and nothing else.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, ClassVar

from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import (
    daemon_options_fingerprint,
    validate_daemon_options,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import (
    packed_script,
    render_install_script,
    script_sha256,
)

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import CertificateSet

__all__ = ["INSTALL_METHODS", "CustomScript", "DockerExtension", "InstallMethod"]


class InstallMethod:
    """One way to install Docker on the VM through an extension (see the subclasses)."""

    option: ClassVar[str]  # the docker_install value
    name: ClassVar[str]  # the extension's resource name on the VM
    publisher: ClassVar[str] = "Microsoft.Azure.Extensions"
    type: ClassVar[str]
    version: ClassVar[str]  # typeHandlerVersion, major.minor
    takes_daemon_options: ClassVar[bool] = False

    def __init__(self, daemon_options: dict | None = None):
        self.daemon_options = dict(daemon_options or {})

    def configured(self, daemon_options: dict) -> InstallMethod:
        """This method for one host: ``daemon_options`` checked (raises ``DaemonOptionsError`` naming the key).

        A method that cannot apply them refuses any (a ValueError naming the method) rather than ignore them.
        """
        options = validate_daemon_options(daemon_options)
        if options and not self.takes_daemon_options:
            raise ValueError(
                f"cannot be applied with docker_install={self.option} (it does not write daemon.json); "
                "use docker_install=custom_script or leave daemon_options empty"
            )
        return type(self)(options)

    def settings(self, port: int) -> dict:
        """Public settings: nothing secret, nothing the handler's schema would refuse."""
        return {}

    def protected_settings(self, port: int, certs: CertificateSet) -> dict:
        raise NotImplementedError

    def fingerprints(self, port: int, certs: CertificateSet) -> dict[str, str]:
        """Public values whose change must re-run the extension (never a hash of the key)."""
        return {"port": str(port), "cert": certs.server_sha256, "ca": certs.ca_sha256}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.daemon_options or ''})"


class CustomScript(InstallMethod):
    """``custom_script``: CustomScript 2.1 runs the collection's install script (``_install_script``)."""

    option = "custom_script"
    name = "docker-install"
    type = "CustomScript"
    version = "2.1"
    takes_daemon_options = True

    def protected_settings(self, port: int, certs: CertificateSet) -> dict:
        rendered = render_install_script(port, certs.ca_pem, certs.cert_pem, certs.key_pem, self.daemon_options)
        return {"script": packed_script(rendered)}

    def fingerprints(self, port: int, certs: CertificateSet) -> dict[str, str]:
        prints = {**super().fingerprints(port, certs), "script": script_sha256()}
        # Only when set: a host without daemon_options keeps the tag it has (no re-run on upgrade); setting,
        # changing or clearing them changes the tag, so Azure re-runs the script exactly once.
        if self.daemon_options:
            prints["daemon"] = daemon_options_fingerprint(self.daemon_options)
        return prints


class DockerExtension(InstallMethod):
    """``docker_extension``: the 2014 flow's DockerExtension (retired by Microsoft), port public, certs protected."""

    option = "docker_extension"
    name = "DockerExtension"
    type = "DockerExtension"
    version = "1.2"

    def settings(self, port: int) -> dict:
        return {"docker": {"port": str(port)}}

    def protected_settings(self, port: int, certs: CertificateSet) -> dict:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        return {"certs": {"ca": b64(certs.ca_pem), "cert": b64(certs.cert_pem), "key": b64(certs.key_pem)}}


INSTALL_METHODS: dict[str, InstallMethod] = {method.option: method for method in (CustomScript(), DockerExtension())}
