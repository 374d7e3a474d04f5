# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the dockerhost.azure collection: no compatibility promise,
# it can change at any time. Do not use it from other collections or standalone plugins.

"""What docker_tls_certs is asked for: the layout of the set and the checked, normalised options.

``build_request`` checks every option (no I/O but user and group look-ups) and raises ``CertsError``
naming the first bad one, so that bad input fails before anything is written. Every pattern is
matched with ``re.fullmatch``: ``$`` would let a trailing newline through.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import pwd
import re
from dataclasses import dataclass

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "ROLES",
    "SERVERS_DIR",
    "SERVER_CERT",
    "SERVER_KEY",
    "CertsError",
    "Layout",
    "Request",
    "build_request",
    "check_file_args",
    "normalize_dnsname",
    "normalize_ip_address",
    "parse_key_mode",
]

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
CLIENT_CERT, CLIENT_KEY = "cert.pem", "key.pem"
SERVERS_DIR = "servers"
SERVER_CERT, SERVER_KEY = "server-cert.pem", "server-key.pem"
ROLES = ("ca", "client", "server")  # also the issuing order: the CA signs the others

KEY_TYPES = ("ecdsa", "rsa")
RSA_MIN_BITS, RSA_MAX_BITS, RSA_DEFAULT_BITS = 2048, 8192, 4096
MAX_DAYS = 36500  # keeps notAfter far from year 9999 (the end of X.509's GeneralizedTime)
KEY_MODES = {0o600: "0600", 0o400: "0400"}

_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Printable text without whitespace: user and group names, SELinux context parts.
_NAME_TEXT = re.compile(r"[^\s\x00-\x1f\x7f]{1,256}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_OCTAL_MODE = re.compile(r"0?[0-7]{3,4}|0o[0-7]{3,4}")
_SYMBOLIC_ITEM = re.compile(r"([ugoa]*)([-+=])([rwxXst]*|[ugo])")
_ATTRIBUTES = re.compile(r"[-+=]?[aAcCdDeEFijmPsStTux]*")


class CertsError(Exception):
    """A problem the user must fix; the message names the option or file and what is wrong."""


@dataclass(frozen=True)
class Layout:
    """Absolute paths of every file of the set; ``server_*`` are None without a server name."""

    directory: str
    server_name: str | None = None

    @property
    def ca_cert(self) -> str:
        return os.path.join(self.directory, CA_CERT)

    @property
    def ca_key(self) -> str:
        return os.path.join(self.directory, CA_KEY)

    @property
    def client_cert(self) -> str:
        return os.path.join(self.directory, CLIENT_CERT)

    @property
    def client_key(self) -> str:
        return os.path.join(self.directory, CLIENT_KEY)

    @property
    def servers_dir(self) -> str:
        return os.path.join(self.directory, SERVERS_DIR)

    @property
    def server_dir(self) -> str | None:
        return os.path.join(self.servers_dir, self.server_name) if self.server_name else None

    @property
    def server_cert(self) -> str | None:
        return os.path.join(self.servers_dir, self.server_name, SERVER_CERT) if self.server_name else None

    @property
    def server_key(self) -> str | None:
        return os.path.join(self.servers_dir, self.server_name, SERVER_KEY) if self.server_name else None

    def pair_paths(self, role: str) -> tuple[str, str]:
        """(certificate, key) paths of ``role``."""
        paths = {
            "ca": (self.ca_cert, self.ca_key),
            "client": (self.client_cert, self.client_key),
            "server": (self.server_cert, self.server_key),
        }[role]
        if paths[0] is None:
            raise ValueError("no server pair without a server name")
        return paths


@dataclass(frozen=True)
class Request:
    """The validated, normalised options."""

    layout: Layout
    state: str = "present"
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()  # canonical text form, sorted
    key_type: str = "ecdsa"
    key_size: int = RSA_DEFAULT_BITS  # RSA modulus bits; unused for ecdsa (always P-256)
    ca_valid_days: int = 3650
    cert_valid_days: int = 365
    renew_before_days: int = 30
    rotate_ca: bool = False
    force: bool = False
    key_mode: int = 0o600
    owner_uid: int | None = None  # the uid named by the owner option: trusted like the running user

    @property
    def key_kind(self) -> str:
        """The wanted key as ``describe`` names it, e.g. ``ecdsa P-256`` or ``rsa 4096``."""
        return "ecdsa P-256" if self.key_type == "ecdsa" else f"rsa {self.key_size}"

    @property
    def sans(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.dns_names, self.ip_addresses


def _check_days(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise CertsError(f"{name} must be a whole number of days from 1 to {MAX_DAYS}, got {value!r}")
    return value


def normalize_dnsname(name: str) -> str:
    """Lower-case ``name`` and check it is a DNS name a TLS client can match (``*.`` allowed first)."""
    if not isinstance(name, str) or not name:
        raise CertsError(f"hostnames: {name!r} is not a DNS name")
    text = name.lower()
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        raise CertsError(f"hostnames: {name!r} is an IP address; put it in ip_addresses (clients match IPs there)")
    if not text.isascii():
        raise CertsError(f"hostnames: {name!r} is not ASCII; give internationalised names in punycode (xn--...)")
    labels = text.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if len(labels) < 2:
            raise CertsError(f"hostnames: {name!r}: a wildcard needs at least two labels after '*.'")
    if len(text) > 253 or not labels or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise CertsError(
            f"hostnames: {name!r} is not a valid DNS name (labels of 1-63 letters, digits or '-', "
            "not starting or ending with '-', separated by '.', at most 253 characters)"
        )
    return text


def normalize_ip_address(value: str) -> str:
    """Canonical text of an IPv4 or IPv6 address; a network, a zone or anything else is refused.

    A zone (``fe80::1%eth0``) names an interface of one machine: a certificate cannot hold it, so the
    address read back would never equal the one asked for and every run would re-issue.
    """
    try:
        address = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        raise CertsError(f"ip_addresses: {value!r} is not an IPv4 or IPv6 address") from None
    if getattr(address, "scope_id", None):
        raise CertsError(
            f"ip_addresses: {value!r} has a zone (%{address.scope_id}), which a certificate cannot hold; "
            "give the address without it"
        )
    return str(address)


def _without_0o(text: str) -> str:
    return text[2:] if text.startswith("0o") else text  # str.removeprefix is Python 3.9


def parse_key_mode(value) -> int:
    """``key_mode`` accepts 0600/0400 as text (``'0600'``, ``'600'``, ``'0o600'``) or the YAML octal number."""
    if isinstance(value, bool):
        mode = None
    elif isinstance(value, int):
        mode = value
    else:
        text = _without_0o(str(value).lower())
        mode = int(text, 8) if re.fullmatch(r"[0-7]{3,4}", text) else None
    if mode not in KEY_MODES:
        raise CertsError(f"key_mode must be '0600' or '0400' (quote it), got {value!r}")
    return mode


def _check_key(key_type: str, key_size: int | None) -> int:
    """The RSA modulus size to use (the default for ecdsa, where it is unused)."""
    if key_type not in KEY_TYPES:
        raise CertsError(f"key_type must be one of {', '.join(KEY_TYPES)}, got {key_type!r}")
    if key_type == "ecdsa":
        if key_size is not None:
            raise CertsError("key_size applies to key_type=rsa only (ecdsa keys are always P-256)")
        return RSA_DEFAULT_BITS
    bits = RSA_DEFAULT_BITS if key_size is None else key_size
    if isinstance(bits, bool) or not isinstance(bits, int) or not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
        raise CertsError(f"key_size must be from {RSA_MIN_BITS} to {RSA_MAX_BITS} bits for rsa, got {key_size!r}")
    return bits


def _check_validity(ca_valid_days: int, cert_valid_days: int, renew_before_days: int) -> None:
    _check_days("ca_valid_days", ca_valid_days)
    _check_days("cert_valid_days", cert_valid_days)
    _check_days("renew_before_days", renew_before_days)
    if renew_before_days >= cert_valid_days:
        raise CertsError(
            f"renew_before_days ({renew_before_days}) must be less than cert_valid_days ({cert_valid_days}), "
            "or every run would re-issue the certificates"
        )
    if cert_valid_days > ca_valid_days:
        raise CertsError(
            f"cert_valid_days ({cert_valid_days}) must not exceed ca_valid_days ({ca_valid_days}): "
            "a certificate cannot outlive the CA that signed it"
        )


def _check_sans(server_name: str | None, hostnames, ip_addresses) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses), normalised, deduplicated and sorted as ``cert_sans`` sorts them."""
    dns_names = tuple(sorted({normalize_dnsname(name) for name in hostnames}))
    ips = {ipaddress.ip_address(normalize_ip_address(ip)) for ip in ip_addresses}
    ip_list = tuple(str(ip) for ip in sorted(ips, key=lambda ip: (ip.version, ip)))
    if server_name is None and (dns_names or ip_list):
        raise CertsError("hostnames and ip_addresses describe a server certificate: set server_name too")
    if server_name is not None and not (dns_names or ip_list):
        raise CertsError(
            f"server_name={server_name} needs at least one of hostnames or ip_addresses: "
            "they are the names Docker clients verify"
        )
    return dns_names, ip_list


def build_request(
    *,
    path: str,
    state: str = "present",
    server_name: str | None = None,
    hostnames: list[str] | tuple[str, ...] | None = None,
    ip_addresses: list[str] | tuple[str, ...] | None = None,
    key_type: str = "ecdsa",
    key_size: int | None = None,
    ca_valid_days: int = 3650,
    cert_valid_days: int = 365,
    renew_before_days: int = 30,
    rotate_ca: bool = False,
    force: bool = False,
    key_mode="0600",
    file_args: dict | None = None,
) -> Request:
    """Check every option; raise ``CertsError`` naming the first bad one.

    ``file_args`` are Ansible's common file options (``mode``, ``owner``, ``group``, SELinux, ``attributes``),
    checked by ``check_file_args``. No I/O but user and group look-ups.
    """
    if state not in ("present", "absent"):
        raise CertsError(f"state must be 'present' or 'absent', got {state!r}")
    if not path:
        raise CertsError("path must not be empty")
    if _CONTROL.search(path):
        raise CertsError(f"path {path!r} holds a control character (a newline?); give the directory's plain name")
    if server_name is not None and not (isinstance(server_name, str) and _SERVER_NAME.fullmatch(server_name)):
        raise CertsError(
            f"server_name {server_name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (it names the folder servers/<server_name>)"
        )
    trusted_uid = check_file_args(**(file_args or {}))
    if state == "absent":
        if server_name is None:
            raise CertsError("state=absent removes one host's server pair: server_name is required")
        return Request(layout=Layout(os.path.abspath(path), server_name), state=state, owner_uid=trusted_uid)

    bits = _check_key(key_type, key_size)
    _check_validity(ca_valid_days, cert_valid_days, renew_before_days)
    dns_names, ip_list = _check_sans(server_name, hostnames or (), ip_addresses or ())
    return Request(
        layout=Layout(os.path.abspath(path), server_name),
        state=state,
        dns_names=dns_names,
        ip_addresses=ip_list,
        key_type=key_type,
        key_size=bits,
        ca_valid_days=ca_valid_days,
        cert_valid_days=cert_valid_days,
        renew_before_days=renew_before_days,
        rotate_ca=bool(rotate_ca),
        force=bool(force),
        key_mode=parse_key_mode(key_mode),
        owner_uid=trusted_uid,
    )


def _check_name(option: str, value, lookup) -> int | None:
    """The id of the user or group ``value`` (a name or a number), or None when unset."""
    if value is None:
        return None
    text = str(value)
    if not _NAME_TEXT.fullmatch(text):
        raise CertsError(f"{option} {value!r} is not a valid name (whitespace or a control character)")
    if text.isdigit():
        return int(text)
    try:
        return lookup(text)
    except KeyError:
        raise CertsError(f"{option}: there is no {'user' if option == 'owner' else 'group'} {text!r} here") from None


def _mode_grants_group_or_other_write(value) -> bool | None:
    """Whether ``mode`` adds write for group or other; None when it is not a mode Ansible understands."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return bool(value & 0o022) if 0 <= value <= 0o7777 else None
    text = str(value)
    if _OCTAL_MODE.fullmatch(text):
        return bool(int(_without_0o(text), 8) & 0o022)
    grants = False
    for item in text.split(","):
        match = _SYMBOLIC_ITEM.fullmatch(item)
        if not match:
            return None
        users, operator, perms = match.groups()
        if operator in "+=" and "w" in perms and (not users or set(users) & set("goa")):
            grants = True
    return grants


def check_file_args(
    *,
    mode=None,
    owner=None,
    group=None,
    seuser=None,
    serole=None,
    setype=None,
    selevel=None,
    attributes=None,
    **_ignored,
) -> int | None:
    """Check Ansible's common file options before anything is written; return the uid ``owner`` names.

    A user or group that does not exist, a mode Ansible would refuse, or a mode that makes certificates
    writable by group or other (the next run would refuse to trust them) fails here, naming the option.
    """
    grants = None if mode is None else _mode_grants_group_or_other_write(mode)
    if mode is not None and grants is None:
        raise CertsError(f"mode {mode!r} is neither an octal mode ('0644') nor a symbolic one ('u=rw,go=r')")
    if grants:
        raise CertsError(
            f"mode {mode!r} makes the certificates writable by group or other; the module refuses to trust "
            "such files (anyone who can write ca.pem chooses whom the daemons trust)"
        )
    uid = _check_name("owner", owner, lambda name: pwd.getpwnam(name).pw_uid)
    _check_name("group", group, lambda name: grp.getgrnam(name).gr_gid)
    for option, value in (("seuser", seuser), ("serole", serole), ("setype", setype), ("selevel", selevel)):
        if value is not None and value != "_default" and not _NAME_TEXT.fullmatch(str(value)):
            raise CertsError(f"{option} {value!r} is not a valid SELinux context part")
    if attributes is not None and not _ATTRIBUTES.fullmatch(str(attributes)):
        raise CertsError(f"attributes {attributes!r} are not chattr attributes (for example '+i' or 'e')")
    return uid
