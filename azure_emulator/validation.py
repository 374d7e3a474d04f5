# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compute's rules for a Linux VM's OS profile, with the errors Compute answers (400 InvalidParameter + target).

Source: learn.microsoft.com/azure/virtual-machines/linux/faq ("What are the username requirements",
"What are the password requirements") and the messages Compute returns for them.
"""

from __future__ import annotations

import base64
import re
import struct

from .core import ArmError

__all__ = ["check_admin_username", "check_linux_password", "check_ssh_public_key", "invalid_parameter"]

# Reserved names Compute refuses as admin user (Linux FAQ).
RESERVED_USERNAMES = frozenset(
    [
        "1",
        "123",
        "a",
        "actuser",
        "adm",
        "admin",
        "admin1",
        "admin2",
        "administrator",
        "aspnet",
        "backup",
        "console",
        "david",
        "guest",
        "john",
        "owner",
        "root",
        "server",
        "sql",
        "support",
        "support_388945a0",
        "sys",
        "test",
        "test1",
        "test2",
        "test3",
        "user",
        "user1",
        "user2",
        "user3",
        "user4",
        "user5",
        "video",
    ]
)
# Passwords Compute refuses even though they meet the complexity rule (Linux FAQ).
BANNED_PASSWORDS = frozenset(
    ["abc@123", "iloveyou!", "P@$$w0rd", "P@ssw0rd", "P@ssword123", "Pa$$word", "pass@word1", "Password!",
     "Password1", "Password22"]
)  # fmt: skip
_USERNAME_FORBIDDEN = set('\\/"[]:|<>+=;,?*@')
_PASSWORD_RULES = (
    "The supplied password must be between 6-72 characters long and must satisfy at least 3 of password "
    "complexity requirements from the following:\r\n1) Contains an uppercase character\r\n2) Contains a "
    "lowercase character\r\n3) Contains a numeric digit\r\n4) Contains a special character\r\n5) Control "
    "characters are not allowed"
)


def invalid_parameter(message: str, target: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target)


def check_admin_username(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise invalid_parameter("Required parameter 'adminUsername' is missing (null).", "adminUsername")
    if len(name) > 64 or name.endswith(".") or any(ch in _USERNAME_FORBIDDEN for ch in name):
        raise invalid_parameter(
            "Linux admin user name cannot be more than 64 characters long, end with a period(.), or contain the "
            'following characters: \\ / " [ ] : | < > + = ; , ? * @.',
            "adminUsername",
        )
    if name.lower() in RESERVED_USERNAMES:
        raise invalid_parameter("The Admin Username specified is not allowed.", "adminUsername")


def check_linux_password(password: object) -> None:
    if not isinstance(password, str):
        raise invalid_parameter(_PASSWORD_RULES, "adminPassword")
    classes = sum(
        (
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            bool(re.search(r"[\W_]", password)),
        )
    )
    control = any(ord(c) < 32 or ord(c) == 127 for c in password)
    if not 6 <= len(password) <= 72 or classes < 3 or control:
        raise invalid_parameter(_PASSWORD_RULES, "adminPassword")
    if password in BANNED_PASSWORDS:
        raise invalid_parameter("The Admin Password specified is not allowed.", "adminPassword")


_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def _rsa_bits(blob: bytes) -> int:
    """Modulus size of an ssh-rsa public key blob (string type, mpint e, mpint n)."""
    fields = []
    offset = 0
    for _i in range(3):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        fields.append(blob[offset + 4 : offset + 4 + length])
        offset += 4 + length
    modulus = fields[2].lstrip(b"\0")
    return len(modulus) * 8


def check_ssh_public_key(key_data: object, path: object, admin_username: str) -> None:
    """An OpenSSH public key (RSA >= 2048 bits, ed25519, ECDSA) at the one path Linux provisioning supports."""
    expected = f"/home/{admin_username}/.ssh/authorized_keys"
    if path != expected:
        raise invalid_parameter(
            f"Destination path for SSH public keys is currently limited to its default value {expected}  due to a "
            "known issue in Linux provisioning agent.",
            "linuxConfiguration.ssh.publicKeys.path",
        )
    invalid = invalid_parameter(
        "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
        "linuxConfiguration.ssh.publicKeys.keyData",
    )
    if not isinstance(key_data, str):
        raise invalid
    parts = key_data.strip().split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise invalid
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        if blob[4 : 4 + length].decode() != parts[0]:
            raise invalid
        if parts[0] == "ssh-rsa" and _rsa_bits(blob) < 2048:
            raise invalid_parameter(
                "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid. SSH RSA keys must be "
                "at least 2048 bits long.",
                "linuxConfiguration.ssh.publicKeys.keyData",
            )
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise invalid from exc
