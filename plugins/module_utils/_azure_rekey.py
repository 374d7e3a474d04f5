# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never re-key a host by accident: is the CA this run holds the one the host's daemon was set up with?

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The daemon trusts exactly the CA its extension shipped. Putting the extension with another CA makes it
trust only the new one and locks out every client holding a certificate from the old one, so that is
refused unless the user asks for it (``rotate_ca``). What the host was set up with is read from the
extension's public ``forceUpdateTag`` (``ca=<SHA-256 of the CA certificate>``): no extra request.

A tag without the CA print (written by hand or by another tool) leaves the deployed CA unknown. When its
server certificate print is the one this run ships, the CA is the same (the run's server certificate is
checked to be issued by its CA before any request); otherwise the run goes on with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_extension import parse_update_tag
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import INSTALL_METHODS
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption

__all__ = ["ROTATE_OPTION", "CaMismatch", "CaVerdict", "deployed_ca_prints", "judge_ca"]

ROTATE_OPTION = "rotate_ca"


class CaMismatch(InvalidOption):
    """The host was set up with another CA and ``rotate_ca`` is false; raised before any write."""

    def __init__(self, message: str, *, deployed: str, wanted: str):
        super().__init__(ROTATE_OPTION, message)
        self.deployed_ca_sha256 = deployed
        self.ca_sha256 = wanted

    def facts(self) -> dict[str, str]:
        """Both prints for fail_json (public values)."""
        return {"deployed_ca_sha256": self.deployed_ca_sha256, "ca_sha256": self.ca_sha256}


@dataclass(frozen=True)
class CaVerdict:
    """``action``: ``first`` (no extension of ours yet), ``same``, ``rotate`` or ``unknown``."""

    action: str
    deployed: tuple[str, ...] = ()
    warning: str | None = None


def _ours(extensions: list[dict]) -> list[dict]:
    """Extensions an install method of ours would manage (by name and type), whatever wrote them."""
    kinds = {(m.name.lower(), m.type.lower()) for m in INSTALL_METHODS.values()}
    return [
        e
        for e in extensions
        if ((e.get("name") or "").lower(), ((e.get("properties") or {}).get("type") or "").lower()) in kinds
    ]


def deployed_ca_prints(extensions: list[dict], *, server_sha256: str, ca_sha256: str) -> tuple[list[str], bool]:
    """The CA prints the host's extensions were set up with, and whether any of them left the CA unknown.

    A tag without ``ca=`` whose ``cert=`` is this run's server certificate counts as this run's CA.
    """
    prints, unknown = [], False
    for ext in _ours(extensions):
        tag = parse_update_tag((ext.get("properties") or {}).get("forceUpdateTag"))
        if tag.get("ca"):
            prints.append(tag["ca"])
        elif tag.get("cert") and tag["cert"] == server_sha256:
            prints.append(ca_sha256)
        else:
            unknown = True
    return sorted(set(prints)), unknown


def judge_ca(
    extensions: list[dict], *, vm_name: str, resource_group: str, ca_sha256: str, server_sha256: str, rotate: bool
) -> CaVerdict:
    """Pure: may this run put an extension carrying ``ca_sha256`` on the VM? Raises :class:`CaMismatch` if not."""
    if not _ours(extensions):
        return CaVerdict("first")
    deployed, unknown = deployed_ca_prints(extensions, server_sha256=server_sha256, ca_sha256=ca_sha256)
    foreign = [p for p in deployed if p != ca_sha256]
    if foreign:
        if rotate:
            return CaVerdict("rotate", tuple(deployed))
        raise CaMismatch(
            f"VM {vm_name!r} in resource group {resource_group!r}: its Docker daemon was set up with the CA "
            f"SHA-256 {', '.join(foreign)}; this run holds the CA SHA-256 {ca_sha256}. Applying it would make the "
            "daemon trust only the new CA and lock out every client holding a certificate from the old one, so "
            "nothing was changed. Supply the CA the host was set up with (ca_cert, with a server_cert it issued), "
            f"or set {ROTATE_OPTION}=true to rotate the CA deliberately.",
            deployed=foreign[0],
            wanted=ca_sha256,
        )
    if unknown and not deployed:
        return CaVerdict(
            "unknown",
            warning=(
                f"VM {vm_name!r}: the CA its Docker daemon was set up with is unknown (the extension's "
                "forceUpdateTag carries no CA fingerprint, and its server certificate is not this run's); if it "
                f"was not the CA SHA-256 {ca_sha256}, applying locks out clients holding certificates from the old one"
            ),
        )
    return CaVerdict("same", tuple(deployed))
