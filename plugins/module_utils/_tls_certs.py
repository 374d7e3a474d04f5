# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the dockerhost.azure collection: no compatibility promise,
# it can change at any time. Do not use it from other collections or standalone plugins.

"""The Docker TLS certificate set: what is wanted, what is on disk, and what to issue.

Four steps, each testable alone:

* ``build_request`` (in ``_tls_request``) checks and normalises the options: bad input fails there,
  before any write.
* ``read_pair`` reads and parses one certificate + key pair from disk (the only I/O, read-only).
* ``plan_present`` / ``plan_absent`` are pure: "what exists" + "what is wanted" + "now" -> a ``Plan``
  naming which of ca/client/server to issue and why, or the problems that make the run refuse.
  The plan drives ``changed``, check mode and the diff.
* ``issue_material`` makes the keys and certificates a plan asks for (in memory, no I/O).

Layout of ``path`` (the docker CLI reads ``ca.pem``, ``cert.pem`` and ``key.pem`` there)::

    ca.pem  ca-key.pem            the CA, shared by every host
    cert.pem  key.pem             the client pair, shared by every host
    servers/<server_name>/server-cert.pem  server-key.pem   one server pair per Docker host
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import FileReadError, read_regular_file
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_request import (
    CA_CERT,
    CA_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    ROLES,
    SERVER_CERT,
    SERVER_KEY,
    SERVERS_DIR,
    CertsError,
    Layout,
    Request,
    build_request,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    X509Error,
    build_ca,
    build_leaf,
    cert_eku,
    cert_not_after,
    cert_not_before,
    cert_sans,
    generate_key,
    is_ca,
    iso,
    issued_by,
    key_kind,
    key_matches,
    name,
    parse_cert,
    parse_key,
    san_strings,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "HAS_CRYPTOGRAPHY",
    "ROLES",
    "SERVERS_DIR",
    "SERVER_CERT",
    "SERVER_KEY",
    "CertsError",
    "Issued",
    "Layout",
    "PairState",
    "Plan",
    "Request",
    "X509Error",
    "build_request",
    "cert_in_use_problems",
    "issue_material",
    "plan_absent",
    "plan_present",
    "predict_cert",
    "read_pair",
]


# --------------------------------------------------------------------------------------------------
# What exists
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairState:
    """One certificate + key pair as found on disk. ``*_error`` says why a file that exists is unusable."""

    role: str
    cert_path: str
    key_path: str
    cert_exists: bool = False
    key_exists: bool = False
    cert: x509.Certificate | None = None
    key: object | None = None  # a cryptography private key
    cert_error: str | None = None
    key_error: str | None = None

    @property
    def absent(self) -> bool:
        return not self.cert_exists and not self.key_exists


def _read(path: str) -> tuple[bool, bytes | None, str | None]:
    """(exists, content, why it is unusable). Regular files only, at most 1 MiB, no symlink followed."""
    try:
        return True, read_regular_file(path), None
    except FileNotFoundError:
        return False, None, None
    except FileReadError as exc:
        if exc.reason.startswith("is a symlink"):
            # Never replaced, not even with force: whoever placed it must look at where it points.
            raise CertsError(str(exc)) from None
        return True, None, exc.reason


def read_pair(role: str, cert_path: str, key_path: str) -> PairState:
    """Read and parse one pair; missing files are not errors, unusable ones are recorded.

    Each file must hold exactly one PEM block of its type (``ca.pem`` with a second certificate appended
    is refused, not half-read); a symlink in place of a file raises ``CertsError`` naming it.
    """
    cert_exists, cert_data, cert_error = _read(cert_path)
    key_exists, key_data, key_error = _read(key_path)
    cert = key = None
    if cert_data is not None:
        cert, cert_error = parse_cert(cert_data)
    if key_data is not None:
        key, key_error = parse_key(key_data)
    return PairState(role, cert_path, key_path, cert_exists, key_exists, cert, key, cert_error, key_error)


# --------------------------------------------------------------------------------------------------
# The decisions (pure)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """What a run does: ``issue`` maps role -> reason (in issuing order), ``remove`` lists paths.

    ``refusals`` non-empty means the run must fail and change nothing; ``forceable`` says whether
    ``force`` would have replaced the files instead.
    """

    issue: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    forceable: bool = False
    # The server pair is not on disk and the certificate the daemon presents still does: no new pair.
    server_kept: bool = False

    @property
    def changes(self) -> bool:
        return bool(self.issue or self.remove)


def _due(cert: x509.Certificate, now: datetime.datetime, renew_before_days: int) -> str | None:
    """Why ``cert`` must be renewed (expired, or inside the renewal window), or None."""
    end = cert_not_after(cert)
    if end <= now:
        return f"expired on {iso(end)}"
    if end - now < datetime.timedelta(days=renew_before_days):
        return f"expires on {iso(end)}, within renew_before_days={renew_before_days}"
    return None


def _pair_problems(pair: PairState) -> list[str]:
    """Why a pair cannot be used as it is: unusable files, half a pair, a key that is not the cert's."""
    problems = []
    if pair.cert_error:
        problems.append(f"{pair.cert_path} {pair.cert_error}")
    if pair.key_error:
        problems.append(f"{pair.key_path} {pair.key_error}")
    if problems:
        return problems
    if pair.cert_exists and not pair.key_exists:
        problems.append(f"{pair.cert_path} exists but its key {pair.key_path} does not")
    elif pair.key_exists and not pair.cert_exists:
        problems.append(f"{pair.key_path} exists but its certificate {pair.cert_path} does not")
    elif pair.cert is not None and pair.key is not None and not key_matches(pair.key, pair.cert):
        problems.append(f"{pair.cert_path}: its key is not {pair.key_path} (the public keys differ)")
    return problems


def leaf_problems(
    cert: x509.Certificate,
    *,
    eku: str,
    sans: tuple | None,
    key_kind_wanted: str,
    renew_before_days: int,
    now: datetime.datetime,
) -> list[str]:
    """Why a leaf signed by the current CA must be re-issued (empty: it still does). Pure."""
    reasons = []
    due = _due(cert, now, renew_before_days)
    if due:
        reasons.append(due)
    have_eku = cert_eku(cert)
    if have_eku != (eku,):
        reasons.append(f"extended key usage is {', '.join(have_eku) or 'missing'}, wanted {eku}")
    have_sans = cert_sans(cert)
    if sans is not None and have_sans != sans:
        have_text = ", ".join(san_strings(*have_sans)) or "none"
        reasons.append(f"SANs are {have_text}, wanted {', '.join(san_strings(*sans))}")
    have_kind = key_kind(cert.public_key())
    if have_kind != key_kind_wanted:
        reasons.append(f"key is {have_kind}, wanted {key_kind_wanted}")
    return reasons


def cert_in_use_problems(
    cert: x509.Certificate | None, ca_cert: x509.Certificate | None, request: Request, now: datetime.datetime
) -> list[str]:
    """Does the certificate a daemon presents still do, so that no new server pair is needed? Pure.

    Empty when it does: issued (signed) by ``ca_cert``, valid now, not within ``renew_before_days`` of its
    end, serverAuth only, exactly the wanted SANs (a missing name or an extra one is drift), the wanted key
    type. Otherwise the reasons, as ``reasons.server`` shows them.
    """
    if cert is None:
        return ["the daemon's certificate is not readable PEM"]
    if ca_cert is None:
        return ["there is no CA to check it against"]
    if not issued_by(cert, ca_cert):
        return ["it was not issued by the CA of this run"]
    problems = []
    start = cert_not_before(cert)
    if start > now:
        problems.append(f"it is not valid before {iso(start)}")
    problems += leaf_problems(
        cert,
        eku="serverAuth",
        sans=request.sans,
        key_kind_wanted=request.key_kind,
        renew_before_days=request.renew_before_days,
        now=now,
    )
    return problems


class _Planner:
    """Accumulates the decisions of ``plan_present``, one pair at a time (CA first)."""

    def __init__(self, request: Request, now: datetime.datetime) -> None:
        self.request = request
        self.now = now
        self.issue: dict[str, str] = {}
        self.refusals: list[str] = []
        self.warnings: list[str] = []
        self.forceable = False
        self.server_kept = False

    def refuse_or_replace(self, role: str, problems: list[str]) -> None:
        if self.request.force:
            self.issue[role] = "force: replacing " + "; ".join(problems)
        else:
            self.refusals.extend(problems)
            self.forceable = True

    def leaf_reasons(self, pair: PairState, eku: str, sans: tuple | None) -> str | None:
        """Why an intact leaf signed by the current CA must be re-issued, or None to keep it."""
        request = self.request
        reasons = leaf_problems(
            pair.cert,
            eku=eku,
            sans=sans,
            key_kind_wanted=request.key_kind,
            renew_before_days=request.renew_before_days,
            now=self.now,
        )
        return "; ".join(reasons) or None

    def plan_ca(self, ca: PairState) -> list[str]:
        """Decide on the CA; return its problems (files in the way)."""
        problems = _pair_problems(ca)
        if not problems and ca.cert is not None and not is_ca(ca.cert):
            problems.append(f"{ca.cert_path} is not a CA certificate (no basicConstraints CA:TRUE with keyCertSign)")
        if problems:
            self.refuse_or_replace("ca", problems)
            return problems
        if ca.absent:
            self.issue["ca"] = "missing"
            return problems
        due = _due(ca.cert, self.now, self.request.renew_before_days)
        if due and self.request.rotate_ca:
            self.issue["ca"] = f"rotate_ca: the CA {due}"
        elif due:
            self.refusals.append(
                f"{ca.cert_path}: the CA {due}. It is never replaced silently: set rotate_ca=true to issue a "
                "new CA and re-issue the client and server certificates (every Docker host then needs its "
                "new server pair)"
            )
        elif key_kind(ca.cert.public_key()) != self.request.key_kind:
            self.warnings.append(
                f"{ca.cert_path} has a {key_kind(ca.cert.public_key())} key; key_type/key_size apply to new keys, "
                "and the CA keeps its key until it is rotated"
            )
        return problems

    def plan_client(self, client: PairState, ca: PairState, ca_problems: list[str]) -> None:
        """The client pair: files the docker CLI reads, which may come from elsewhere."""
        problems = _pair_problems(client)
        ca_refused = bool(ca_problems) and not self.request.force
        if not problems and not client.absent and not ca_refused:
            if ca_problems or ca.absent:
                state = "does not exist" if ca.absent else "is being replaced"
                problems.append(f"{client.cert_path} was not issued by {ca.cert_path} ({ca.cert_path} {state})")
            elif not issued_by(client.cert, ca.cert):
                problems.append(f"{client.cert_path} was not issued by {ca.cert_path}")
        if problems:
            self.refuse_or_replace("client", problems)
        elif client.absent:
            self.issue["client"] = "missing"
        elif "ca" in self.issue:
            self.issue["client"] = "the CA is new"
        elif not ca_problems:
            reason = self.leaf_reasons(client, "clientAuth", None)
            if reason:
                self.issue["client"] = reason

    def plan_server(
        self, server: PairState, ca: PairState, ca_problems: list[str], in_use: x509.Certificate | None = None
    ) -> None:
        """The server pair, in this module's own folder; ``in_use`` the daemon's certificate, if known."""
        problems = _pair_problems(server)
        if problems:
            self.refuse_or_replace("server", problems)
        elif server.absent and in_use is not None and not ca_problems and "ca" not in self.issue:
            why_not = cert_in_use_problems(in_use, ca.cert, self.request, self.now)
            if why_not:
                self.issue["server"] = "missing, and the certificate in use does not do: " + "; ".join(why_not)
            else:
                self.server_kept = True
        elif server.absent:
            self.issue["server"] = "missing"
        elif "ca" in self.issue:
            self.issue["server"] = "the CA is new"
        elif ca_problems:
            return  # the run fails on the CA; nothing to judge the server pair against
        elif not issued_by(server.cert, ca.cert):
            self.issue["server"] = f"not signed by the current CA {ca.cert_path}"
        else:
            reason = self.leaf_reasons(server, "serverAuth", self.request.sans)
            if reason:
                self.issue["server"] = reason

    def warn_short_ca(self, ca: PairState) -> None:
        """A kept CA that ends before a new leaf would: the leaf is cut to the CA's end, say so."""
        if "ca" in self.issue or ca.cert is None or not ({"client", "server"} & self.issue.keys()):
            return
        ca_end = cert_not_after(ca.cert)
        if ca_end < self.now + datetime.timedelta(days=self.request.cert_valid_days):
            self.warnings.append(
                f"{ca.cert_path} expires on {iso(ca_end)}, sooner than "
                f"cert_valid_days={self.request.cert_valid_days}: new certificates end with the CA; "
                "plan a run with rotate_ca=true"
            )


def plan_present(
    request: Request,
    ca: PairState,
    client: PairState,
    server: PairState | None,
    now: datetime.datetime,
    *,
    server_in_use: x509.Certificate | None = None,
) -> Plan:
    """Decide which of ca/client/server to issue, or refuse.

    ``server_in_use`` is the certificate the host's daemon presents. When the server pair is not on disk
    (a fresh control node) and that certificate still does (``cert_in_use_problems``), no pair is issued
    and ``Plan.server_kept`` says so; the server pair on disk, when there is one, always wins.

    Never destroys what it did not make: unusable files, half pairs, mismatched keys and a client pair
    that ``ca.pem`` did not sign are refused (``force`` replaces them). The CA is never replaced
    silently: when due it is replaced only with ``rotate_ca``. The folder ``servers/<server_name>``
    belongs to this module, so a server pair there that the current CA did not sign (the CA was
    rotated on a run for another host) is re-issued.
    """
    planner = _Planner(request, now)
    ca_problems = planner.plan_ca(ca)
    planner.plan_client(client, ca, ca_problems)
    if server is not None:
        planner.plan_server(server, ca, ca_problems, server_in_use)
    if planner.refusals:
        return Plan(refusals=tuple(planner.refusals), warnings=tuple(planner.warnings), forceable=planner.forceable)
    planner.warn_short_ca(ca)
    return Plan(issue=planner.issue, warnings=tuple(planner.warnings), server_kept=planner.server_kept)


def plan_absent(layout: Layout, cert_exists: bool, key_exists: bool) -> Plan:
    """Remove one host's server pair; the CA and the client pair are never touched."""
    remove = []
    if key_exists:
        remove.append(layout.server_key)
    if cert_exists:
        remove.append(layout.server_cert)
    return Plan(remove=tuple(remove))


# --------------------------------------------------------------------------------------------------
# Issuing (in memory)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: object


def issue_material(plan: Plan, request: Request, ca: PairState, now: datetime.datetime) -> dict[str, Issued]:
    """Generate every key and certificate ``plan`` asks for, the CA first. Nothing is written."""
    issued: dict[str, Issued] = {}
    if "ca" in plan.issue:
        ca_key = generate_key(request.key_type, request.key_size)
        issued["ca"] = Issued(build_ca(ca_key, now, request.ca_valid_days), ca_key)
    ca_now = issued.get("ca") or Issued(ca.cert, ca.key)
    for role in ROLES[1:]:
        if role not in plan.issue:
            continue
        key = generate_key(request.key_type, request.key_size)
        cert = build_leaf(
            key,
            ca_now.cert,
            ca_now.key,
            common_name=request.layout.server_name if role == "server" else "client",
            server=role == "server",
            sans=request.sans if role == "server" else ((), ()),
            now=now,
            days=request.cert_valid_days,
        )
        issued[role] = Issued(cert, key)
    return issued


def predict_cert(role: str, request: Request, ca: PairState, now: datetime.datetime, ca_is_new: bool) -> dict:
    """What ``describe_cert`` will say of a certificate issued this run, as far as it is known before."""
    if role == "ca":
        return {
            "subject": name("Docker TLS CA <new>").rfc4514_string(),
            "not_after": iso(now + datetime.timedelta(days=request.ca_valid_days)),
            "key": request.key_kind,
            "fingerprint": "<new>",
        }
    end = now + datetime.timedelta(days=request.cert_valid_days)
    if not ca_is_new and ca.cert is not None:
        end = min(end, cert_not_after(ca.cert))
    info = {
        "subject": name(request.layout.server_name if role == "server" else "client").rfc4514_string(),
        "not_after": iso(end),
        "key": request.key_kind,
        "fingerprint": "<new>",
        "extended_key_usage": ["serverAuth" if role == "server" else "clientAuth"],
    }
    if role == "server":
        info["sans"] = san_strings(*request.sans)
    return info
