# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each Azure auth setting comes from: the task, the environment, or a ``~/.azure/credentials`` profile.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Precedence, per setting: the task's option, else its environment variable(s), else the named profile
(:func:`merge_settings`, pure). Two environment names for one setting (AWX's ``AZURE_SECRET`` and
azure-identity's ``AZURE_CLIENT_SECRET``; ``AZURE_TENANT`` / ``AZURE_TENANT_ID``) must agree when both are set,
or the task fails naming both. The profile file is the INI file azure.azcollection and the old Azure CLI
read (:func:`read_profile`: a regular file, size capped, not writable by others). Values are never put in
messages: only option names, variable names, profile names and paths.
"""

from __future__ import annotations

import configparser
import os
import stat
from dataclasses import dataclass, field

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption

__all__ = [
    "CREDENTIALS_FILE",
    "ENV_NAMES",
    "PROFILE_KEYS",
    "Profile",
    "Setting",
    "check_one_source",
    "from_environment",
    "merge_settings",
    "parse_profile",
    "read_profile",
    "selected_profile",
]

CREDENTIALS_FILE = "~/.azure/credentials"  # where azure.azcollection reads profiles (no override there either)
MAX_CREDENTIALS_FILE = 64 * 1024

TASK, ENVIRONMENT, PROFILE, DEFAULT = "task", "environment", "profile", "default"

# Option -> environment variables, AWX's name first, then azure-identity's (EnvironmentCredential) where it differs.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "subscription_id": ("AZURE_SUBSCRIPTION_ID",),
    "client_id": ("AZURE_CLIENT_ID",),
    "secret": ("AZURE_SECRET", "AZURE_CLIENT_SECRET"),
    "tenant": ("AZURE_TENANT", "AZURE_TENANT_ID"),
    "client_certificate_path": ("AZURE_CLIENT_CERTIFICATE_PATH",),
    "client_certificate_password": ("AZURE_CLIENT_CERTIFICATE_PASSWORD",),
    "cloud_environment": ("AZURE_CLOUD_ENVIRONMENT",),
    "profile": ("AZURE_PROFILE",),
}
# Keys a profile section may hold (azure.azcollection's names; x509_certificate_path is its certificate key).
PROFILE_KEYS = (
    "subscription_id",
    "client_id",
    "secret",
    "tenant",
    "cloud_environment",
    "client_certificate_path",
    "client_certificate_password",
)
_PROFILE_ALIASES = {"x509_certificate_path": "client_certificate_path"}
# azure.azcollection's username/password sign-in (ROPC): not offered by Entra ID for MFA accounts, nor here.
_UNSUPPORTED_PROFILE_KEYS = ("ad_user", "password")
_CASE_INSENSITIVE = ("tenant", "client_id", "subscription_id")


@dataclass(frozen=True)
class Setting:
    """One setting's value and where it came from (``where`` is safe to show: never the value)."""

    value: str = field(repr=False)
    source: str  # task | environment | profile | default
    where: str  # "the task", "AZURE_CLIENT_SECRET", "profile 'prod' in /home/me/.azure/credentials"


@dataclass(frozen=True)
class Profile:
    name: str
    path: str
    values: dict[str, str] = field(repr=False)

    @property
    def where(self) -> str:
        return f"profile '{self.name}' in {self.path}"


def _clean(value) -> str | None:
    """Unset, empty and blank all mean "not given" (AWX injects empty fields; roles pass '')."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def from_environment(option: str, environ) -> Setting | None:
    """The option's environment value; both of its names set to different values is an error naming both."""
    found = [(name, _clean(environ.get(name))) for name in ENV_NAMES.get(option, ())]
    found = [(name, value) for name, value in found if value is not None]
    if not found:
        return None
    fold = str.lower if option in _CASE_INSENSITIVE else str
    if len({fold(value) for _name, value in found}) > 1:
        names = " and ".join(name for name, _value in found)
        raise InvalidOption(
            option,
            f"{names} are both set, to different values: unset one of them, or set the {option} option in the task",
        )
    name, value = found[0]
    return Setting(value, ENVIRONMENT, name)


def selected_profile(params: dict, environ) -> Setting | None:
    """The profile name: O(profile), else AZURE_PROFILE; None reads no file at all."""
    value = _clean(params.get("profile"))
    if value is not None:
        return Setting(value, TASK, "the profile option")
    return from_environment("profile", environ)


def parse_profile(text: str, name: str, path: str) -> Profile:
    """The section ``name`` of an INI credentials file, restricted to the keys this collection uses."""
    parser = configparser.ConfigParser(interpolation=None)  # as azure.azcollection reads it, [DEFAULT] included
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        # configparser's message quotes the offending line, which may hold a secret: say where, not what.
        line = getattr(exc, "lineno", None)
        at = f" (line {line})" if line else ""
        raise InvalidOption("profile", f"{path} is not a valid INI credentials file{at}") from None
    if not parser.has_section(name):
        known = ", ".join(repr(s) for s in parser.sections()) or "none"
        raise InvalidOption("profile", f"no profile '{name}' in {path} (profiles there: {known})")
    section = parser[name]
    values = {}
    for key, value in section.items():
        option = _PROFILE_ALIASES.get(key, key)
        if option in PROFILE_KEYS and _clean(value) is not None:
            values[option] = _clean(value)
    unsupported = [key for key in _UNSUPPORTED_PROFILE_KEYS if key in section]
    if unsupported and not ({"secret", "client_certificate_path"} & set(values)):
        raise InvalidOption(
            "profile",
            f"profile '{name}' in {path} signs in with {' and '.join(unsupported)} (username and password), which "
            "this collection does not support: give it a service principal (client_id, tenant and secret or "
            "client_certificate_path)",
        )
    return Profile(name, path, values)


def read_profile(name: str, path: str | None = None) -> Profile:
    """Read and parse the profile ``name`` from the credentials file (default ``~/.azure/credentials``)."""
    path = os.path.expanduser(path or CREDENTIALS_FILE)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidOption("profile", f"profile '{name}' was asked for, but {path} does not exist") from None
    except OSError as exc:
        raise InvalidOption("profile", f"cannot read {path} for profile '{name}': {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidOption("profile", f"{path} (for profile '{name}') is not a regular file")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InvalidOption(
            "profile", f"{path} is writable by other users, who could swap the credentials: chmod go-w (0600 is best)"
        )
    if info.st_size > MAX_CREDENTIALS_FILE:
        raise InvalidOption("profile", f"{path} is larger than {MAX_CREDENTIALS_FILE} bytes: not a credentials file")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_CREDENTIALS_FILE + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidOption("profile", f"cannot read {path} for profile '{name}': {reason}") from None
    return parse_profile(text, name, path)


def merge_settings(params: dict, environ, profile: Profile | None) -> dict[str, Setting]:
    """Every auth setting that is set: the task's option, else the environment, else the profile."""
    settings = {}
    for option in PROFILE_KEYS:
        value = _clean(params.get(option))
        if value is not None:
            settings[option] = Setting(value, TASK, "the task")
            continue
        from_env = from_environment(option, environ)
        if from_env is not None:
            settings[option] = from_env
        elif profile is not None and option in profile.values:
            settings[option] = Setting(profile.values[option], PROFILE, profile.where)
    return settings


def check_one_source(settings: dict[str, Setting], names: tuple[str, ...]) -> None:
    """The settings ``names`` (one service principal) come from the task and at most one other source.

    A client id from the environment (say, injected for a workload identity) with a secret from a profile is
    two identities mixed: Entra ID would answer with a confusing AADSTS error, so it is refused here.
    """
    parts = {name: settings[name] for name in names if name in settings}
    from_env = [f"{name} from {s.where}" for name, s in parts.items() if s.source == ENVIRONMENT]
    from_profile = [name for name, s in parts.items() if s.source == PROFILE]
    if from_env and from_profile:
        raise InvalidOption(
            from_profile[0],
            f"the service principal would be assembled from the environment ({', '.join(from_env)}) and "
            f"{parts[from_profile[0]].where} ({', '.join(from_profile)}): take it from one of them (unset the "
            "variables or the profile's keys), or set the options in the task",
        )
