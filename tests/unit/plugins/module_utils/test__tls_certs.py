# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure decisions of docker_tls_certs: option checks and the issue/renew/refuse plan."""

from __future__ import annotations

import datetime
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_certs import (
    CertsError,
    Layout,
    PairState,
    build_request,
    cert_in_use_problems,
    issue_material,
    plan_absent,
    plan_present,
    predict_cert,
    read_pair,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    X509Error,
    build_ca,
    build_leaf,
    cert_not_after,
    cert_not_before,
    cert_pem,
    describe_cert,
    key_pem,
)

NOW = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
DIR = "/certs"


def want(**overrides):
    options = {"path": DIR, "server_name": "h1", "hostnames": ["h1.example.test"], "ip_addresses": ["192.0.2.10"]}
    options.update(overrides)
    return build_request(**options)


def pair(role: str, cert=None, key=None, **fields) -> PairState:
    paths = {
        "ca": ("ca.pem", "ca-key.pem"),
        "client": ("cert.pem", "key.pem"),
        "server": ("servers/h1/server-cert.pem", "servers/h1/server-key.pem"),
    }[role]
    fields.setdefault("cert_exists", cert is not None)
    fields.setdefault("key_exists", key is not None)
    return PairState(role, f"{DIR}/{paths[0]}", f"{DIR}/{paths[1]}", cert=cert, key=key, **fields)


def issued_set(request, now=NOW) -> dict[str, PairState]:
    """A complete set as the module would issue it at ``now``."""
    plan = plan_present(request, pair("ca"), pair("client"), pair("server"), now)
    material = issue_material(plan, request, pair("ca"), now)
    return {role: pair(role, m.cert, m.key) for role, m in material.items()}


@pytest.fixture(scope="module")
def current():
    """One issued set for the default request, shared (building it is the slow part)."""
    return issued_set(want())


def plan_for(request, pairs, now=NOW, server=True):
    return plan_present(
        request, pairs.get("ca", pair("ca")), pairs.get("client", pair("client")),
        (pairs.get("server", pair("server")) if server else None), now,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"hostnames": ["-bad.example"]}, "hostnames"),
        ({"hostnames": ["a..b.example"]}, "hostnames"),
        ({"hostnames": ["exa mple.test"]}, "hostnames"),
        ({"hostnames": ["x" * 64 + ".test"]}, "hostnames"),
        ({"hostnames": ["ünï.test"]}, "punycode"),
        ({"hostnames": ["192.0.2.1"]}, "put it in ip_addresses"),
        ({"hostnames": ["*.test"]}, "wildcard"),
        ({"ip_addresses": ["10.0.0.0/8"]}, "ip_addresses"),
        ({"ip_addresses": ["300.1.1.1"]}, "ip_addresses"),
        ({"ip_addresses": ["docker.example"]}, "ip_addresses"),
        ({"key_type": "rsa", "key_size": 1024}, "key_size"),
        ({"key_type": "rsa", "key_size": 16384}, "key_size"),
        ({"key_size": 4096}, "key_size applies to key_type=rsa only"),
        ({"key_type": "dsa"}, "key_type"),
        ({"ca_valid_days": 0}, "ca_valid_days"),
        ({"cert_valid_days": -1}, "cert_valid_days"),
        ({"renew_before_days": 0}, "renew_before_days"),
        ({"ca_valid_days": 36501}, "ca_valid_days"),
        ({"cert_valid_days": 30, "renew_before_days": 30}, "renew_before_days (30) must be less than"),
        ({"cert_valid_days": 400, "ca_valid_days": 365}, "must not exceed ca_valid_days"),
        ({"server_name": "../etc"}, "server_name"),
        ({"server_name": "a/b"}, "server_name"),
        ({"server_name": ".hidden"}, "server_name"),
        ({"server_name": ""}, "server_name"),
        ({"server_name": None}, "set server_name too"),
        ({"hostnames": [], "ip_addresses": []}, "needs at least one of hostnames or ip_addresses"),
        ({"key_mode": "0644"}, "key_mode"),
        ({"key_mode": 0o644}, "key_mode"),
        ({"key_mode": "rw"}, "key_mode"),
        ({"state": "gone"}, "state"),
    ],
)
def test_bad_options_are_named(overrides, option):
    with pytest.raises(CertsError, match=re.escape(option)):
        want(**overrides)


def test_absent_needs_only_a_server_name():
    with pytest.raises(CertsError, match="server_name is required"):
        build_request(path=DIR, state="absent")
    request = build_request(path=DIR, state="absent", server_name="h1", hostnames=["ignored..name"])
    assert request.layout.server_cert == f"{DIR}/servers/h1/server-cert.pem"


@pytest.mark.parametrize(("value", "mode"), [("0600", 0o600), ("0400", 0o400), ("400", 0o400), (0o400, 0o400)])
def test_key_mode_spellings(value, mode):
    assert want(key_mode=value).key_mode == mode


def test_names_are_normalised_and_sorted():
    request = want(
        hostnames=["B.example.test", "a.example.test", "b.example.test", "*.Wild.example.test"],
        ip_addresses=["2001:db8::0:1", "192.0.2.10", "10.0.0.1", "192.0.2.10"],
    )
    assert request.dns_names == ("*.wild.example.test", "a.example.test", "b.example.test")
    assert request.ip_addresses == ("10.0.0.1", "192.0.2.10", "2001:db8::1")
    assert request.key_kind == "ecdsa P-256"
    assert want(key_type="rsa").key_kind == "rsa 4096"


def test_layout_paths_are_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layout = build_request(path="rel", server_name="h1", hostnames=["h"]).layout
    assert layout.directory == str(tmp_path / "rel")
    assert layout.client_cert == str(tmp_path / "rel" / "cert.pem")
    assert layout.server_key == str(tmp_path / "rel" / "servers" / "h1" / "server-key.pem")
    assert Layout(str(tmp_path)).server_cert is None


# --------------------------------------------------------------------------------------------------
# Issue / keep / renew
# --------------------------------------------------------------------------------------------------
def test_empty_directory_issues_everything():
    plan = plan_for(want(), {})
    assert plan.issue == {"ca": "missing", "client": "missing", "server": "missing"}
    assert not plan.refusals


def test_without_server_name_only_ca_and_client():
    request = build_request(path=DIR)
    plan = plan_present(request, pair("ca"), pair("client"), None, NOW)
    assert list(plan.issue) == ["ca", "client"]


def test_complete_set_is_kept(current):
    plan = plan_for(want(), current)
    assert plan.issue == {}
    assert not plan.changes
    assert not plan.warnings


def test_same_names_in_another_case_and_order_are_kept(current):
    request = want(hostnames=["H1.EXAMPLE.TEST"], ip_addresses=["192.0.2.10", "192.0.2.10"])
    assert plan_for(request, current).issue == {}


def test_second_host_reuses_ca_and_client(current):
    request = want(server_name="h2", hostnames=["h2.example.test"], ip_addresses=[])
    plan = plan_for(request, {"ca": current["ca"], "client": current["client"]})
    assert plan.issue == {"server": "missing"}


def test_leaf_inside_renewal_window_is_reissued(current):
    later = NOW + 340 * DAY
    plan = plan_for(want(), current, now=later)
    assert set(plan.issue) == {"client", "server"}
    assert "within renew_before_days=30" in plan.issue["server"]


def test_expired_leaf_is_reissued(current):
    plan = plan_for(want(), current, now=NOW + 400 * DAY)
    assert plan.issue["client"].startswith("expired on 2031-01-01")


def test_changed_sans_reissue_only_the_server(current):
    plan = plan_for(want(hostnames=["h1.example.test", "new.example.test"]), current)
    assert list(plan.issue) == ["server"]
    assert "wanted DNS:h1.example.test, DNS:new.example.test, IP:192.0.2.10" in plan.issue["server"]


def test_wrong_extended_key_usage_is_reissued(current):
    # A server certificate of this CA in the client's place: clientAuth is missing.
    swapped = pair("client", current["server"].cert, current["server"].key)
    plan = plan_for(want(), {**current, "client": swapped})
    assert plan.issue == {"client": "extended key usage is serverAuth, wanted clientAuth"}


def test_other_key_type_reissues_leaves_and_warns_about_the_ca(current):
    plan = plan_for(want(key_type="rsa", key_size=2048), current)
    assert plan.issue["client"] == "key is ecdsa P-256, wanted rsa 2048"
    assert "ca" not in plan.issue
    assert any("key_type/key_size apply to new keys" in w for w in plan.warnings)


def test_server_of_a_rotated_ca_is_reissued(current):
    # The CA was rotated on a run for another host: this host's pair is signed by the old CA.
    old = issued_set(want())
    plan = plan_for(want(), {**current, "server": old["server"]})
    assert plan.issue == {"server": "not signed by the current CA /certs/ca.pem"}


# --------------------------------------------------------------------------------------------------
# The CA is never replaced silently
# --------------------------------------------------------------------------------------------------
def test_ca_near_expiry_fails_without_rotate_ca():
    request = want(ca_valid_days=400, cert_valid_days=100, renew_before_days=30)
    pairs = issued_set(request)
    later = NOW + 380 * DAY
    plan = plan_for(request, pairs, now=later)
    assert len(plan.refusals) == 1
    assert "/certs/ca.pem: the CA expires on" in plan.refusals[0]
    assert "rotate_ca=true" in plan.refusals[0]
    assert not plan.forceable  # force does not rotate a CA
    assert plan_for(want(ca_valid_days=400, cert_valid_days=100, force=True), pairs, now=later).refusals
    rotated = plan_for(want(ca_valid_days=400, cert_valid_days=100, rotate_ca=True), pairs, now=later)
    assert rotated.issue["ca"].startswith("rotate_ca: the CA expires on")
    assert rotated.issue["client"] == rotated.issue["server"] == "the CA is new"


def test_rotate_ca_does_not_replace_a_ca_that_is_not_due(current):
    assert plan_for(want(rotate_ca=True), current).issue == {}


def test_short_lived_ca_cuts_new_leaves_and_warns():
    request = want(ca_valid_days=150, cert_valid_days=100, renew_before_days=10)
    pairs = issued_set(request)
    later = NOW + 70 * DAY  # the CA has 80 days left, a new leaf would want 100
    plan = plan_for(request, {"ca": pairs["ca"], "client": pairs["client"]}, now=later)
    assert plan.issue == {"server": "missing"}
    assert any("sooner than cert_valid_days=100" in w for w in plan.warnings)
    material = issue_material(plan, request, pairs["ca"], later)
    assert cert_not_after(material["server"].cert) == cert_not_after(pairs["ca"].cert)
    assert predict_cert("server", request, pairs["ca"], later, False)["not_after"] == (
        cert_not_after(pairs["ca"].cert).isoformat()
    )


# --------------------------------------------------------------------------------------------------
# Never destroy what it did not make
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """A client pair and a CA from an independent PKI (azure_emulator/pki.py)."""
    other = TestCA(str(tmp_path_factory.mktemp("foreign")))
    paths = other.client()
    return other, read_pair("client", paths.cert, paths.key)


def test_client_pair_from_another_ca_is_refused(current, foreign):
    _other, client = foreign
    plan = plan_for(want(), {**current, "client": pair("client", client.cert, client.key)})
    assert plan.refusals == ("/certs/cert.pem was not issued by /certs/ca.pem",)
    assert plan.forceable and not plan.issue
    forced = plan_for(want(force=True), {**current, "client": pair("client", client.cert, client.key)})
    assert forced.issue == {"client": "force: replacing /certs/cert.pem was not issued by /certs/ca.pem"}


def test_client_pair_without_a_ca_is_refused(foreign):
    _other, client = foreign
    plan = plan_for(want(), {"client": pair("client", client.cert, client.key)})
    assert plan.refusals == ("/certs/cert.pem was not issued by /certs/ca.pem (/certs/ca.pem does not exist)",)


def test_ca_whose_key_is_not_ca_key_is_refused(current):
    wrong = pair("ca", current["ca"].cert, ec.generate_private_key(ec.SECP256R1()))
    plan = plan_for(want(), {**current, "ca": wrong})
    assert plan.refusals == ("/certs/ca.pem: its key is not /certs/ca-key.pem (the public keys differ)",)
    forced = plan_for(want(force=True), {**current, "ca": wrong})
    assert list(forced.issue) == ["ca", "client", "server"]
    assert forced.issue["ca"].startswith("force: replacing")


def test_foreign_ca_with_its_key_is_adopted(foreign):
    other, _client = foreign
    ca = pair("ca", other.cert, other.key)
    now = datetime.datetime.now(datetime.UTC)  # the test CA lives 30 days from today
    plan = plan_for(want(renew_before_days=1), {"ca": ca}, now=now)
    assert plan.issue == {"client": "missing", "server": "missing"}
    material = issue_material(plan, want(), ca, now)
    assert material["server"].cert.issuer == other.cert.subject


def test_leaf_as_ca_is_refused(current):
    not_ca = pair("ca", current["server"].cert, current["server"].key)
    plan = plan_for(want(), {**current, "ca": not_ca})
    assert plan.refusals[0] == "/certs/ca.pem is not a CA certificate (no basicConstraints CA:TRUE with keyCertSign)"


@pytest.mark.parametrize(
    ("role", "missing", "message"),
    [
        ("ca", "key", "/certs/ca.pem exists but its key /certs/ca-key.pem does not"),
        ("client", "cert", "/certs/key.pem exists but its certificate /certs/cert.pem does not"),
        ("server", "key", "/certs/servers/h1/server-cert.pem exists but its key /certs/servers/h1/server-key.pem"),
    ],
)
def test_half_pairs_are_refused(current, role, missing, message):
    whole = current[role]
    half = pair(role, None if missing == "cert" else whole.cert, None if missing == "key" else whole.key)
    plan = plan_for(want(), {**current, role: half})
    assert plan.refusals and plan.refusals[0].startswith(message)
    assert not plan.issue


def test_unparsable_files_are_refused_with_their_names(tmp_path, current):
    (tmp_path / "cert.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    (tmp_path / "key.pem").write_bytes(b"garbage")
    (tmp_path / "ca.pem").write_bytes(b"hello")
    client = read_pair("client", str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert client.cert_error == "holds unparsable PEM: the certificate cannot be decoded"
    assert client.key_error == "holds unparsable PEM: the private key cannot be decoded"
    ca = read_pair("ca", str(tmp_path / "ca.pem"), str(tmp_path / "ca-key.pem"))
    assert ca.cert_error == "holds no PEM certificate (no BEGIN CERTIFICATE line)"
    plan = plan_for(want(), {**current, "client": client})
    assert plan.refusals == (
        f"{tmp_path}/cert.pem holds unparsable PEM: the certificate cannot be decoded",
        f"{tmp_path}/key.pem holds unparsable PEM: the private key cannot be decoded",
    )


def test_encrypted_and_unsupported_keys_are_named(tmp_path):
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (tmp_path / "enc.pem").write_bytes(encrypted)
    (tmp_path / "ed.pem").write_bytes(key_pem(ed25519.Ed25519PrivateKey.generate()))
    assert "encrypted private key" in read_pair("x", str(tmp_path / "none"), str(tmp_path / "enc.pem")).key_error
    assert "unsupported" in read_pair("x", str(tmp_path / "none"), str(tmp_path / "ed.pem")).key_error
    unreadable = read_pair("x", str(tmp_path), str(tmp_path / "none"))
    assert unreadable.cert_exists and unreadable.cert_error == "is a directory, not a file"


def test_ca_problems_do_not_cascade_into_noise(current, foreign):
    _other, client = foreign
    wrong = pair("ca", current["ca"].cert, None, key_exists=False)
    plan = plan_for(want(), {**current, "ca": wrong, "client": pair("client", client.cert, client.key)})
    # The CA is unusable, so the client pair is not judged against it: one problem, one message.
    assert plan.refusals == ("/certs/ca.pem exists but its key /certs/ca-key.pem does not",)


def test_plan_absent_lists_only_existing_server_files():
    layout = Layout(DIR, "h1")
    assert plan_absent(layout, True, True).remove == (layout.server_key, layout.server_cert)
    assert plan_absent(layout, False, True).remove == (layout.server_key,)
    assert not plan_absent(layout, False, False).changes


# --------------------------------------------------------------------------------------------------
# What gets issued
# --------------------------------------------------------------------------------------------------
def _ext(cert, kind):
    return cert.extensions.get_extension_for_class(kind)


def test_issued_certificates_have_the_required_extensions(current):
    ca, client, server = current["ca"].cert, current["client"].cert, current["server"].cert
    constraints = _ext(ca, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = _ext(ca, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    ca_ski = _ext(ca, x509.SubjectKeyIdentifier).value
    for leaf, eku in (
        (client, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH),
        (server, x509.oid.ExtendedKeyUsageOID.SERVER_AUTH),
    ):
        assert list(_ext(leaf, x509.ExtendedKeyUsage).value) == [eku]
        assert _ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski.digest
        assert _ext(leaf, x509.SubjectKeyIdentifier).value.digest != ca_ski.digest
        assert not _ext(leaf, x509.BasicConstraints).value.ca
        assert leaf.signature_hash_algorithm.name == "sha256"
        assert leaf.serial_number > 0
        assert cert_not_before(leaf) == NOW - datetime.timedelta(minutes=5)
    sans = _ext(server, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["h1.example.test"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    assert len({ca.serial_number, client.serial_number, server.serial_number}) == 3


def test_rsa_keys_have_the_asked_size():
    request = want(key_type="rsa", key_size=2048)
    material = issue_material(plan_for(request, {}), request, pair("ca"), NOW)
    for item in material.values():
        assert isinstance(item.key, rsa.RSAPrivateKey)
        assert item.key.key_size == 2048
    usage = _ext(material["server"].cert, x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment


def test_a_damaged_ca_key_is_caught_after_signing(current):
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(X509Error, match=r"ca-key\.pem is damaged"):
        build_leaf(other_key, current["ca"].cert, other_key, common_name="x", server=False, now=NOW, days=1)


def test_descriptions_and_predictions_carry_no_key_material(current):
    for role, item in current.items():
        text = repr(describe_cert(item.cert)) + repr(predict_cert(role, want(), current["ca"], NOW, False))
        assert "PRIVATE KEY" not in text
        body = key_pem(item.key).decode().splitlines()[1]
        assert body not in text
    info = describe_cert(current["server"].cert)
    assert info["sans"] == ["DNS:h1.example.test", "IP:192.0.2.10"]
    assert info["key"] == "ecdsa P-256"
    assert len(info["fingerprint"]) == 64


def test_new_ca_not_after_and_pem_round_trip():
    key = ec.generate_private_key(ec.SECP256R1())
    ca = build_ca(key, NOW, 10)
    assert cert_not_after(ca) == NOW + 10 * DAY
    assert x509.load_pem_x509_certificate(cert_pem(ca)) == ca
    assert key_pem(key).startswith(b"-----BEGIN PRIVATE KEY-----")


# --------------------------------------------------------------------------------------------------
# A fresh control node: no server pair on disk, the daemon's certificate decides (issue 12 item 2)
# --------------------------------------------------------------------------------------------------
def _without_server(pairs):
    return {role: found for role, found in pairs.items() if role != "server"}


def test_the_certificate_in_use_that_still_does_is_kept(current):
    plan = plan_present(
        want(), current["ca"], current["client"], pair("server"), NOW, server_in_use=current["server"].cert
    )
    assert plan.issue == {} and plan.server_kept and not plan.changes
    assert cert_in_use_problems(current["server"].cert, current["ca"].cert, want(), NOW) == []


def test_a_server_pair_on_disk_wins_over_the_certificate_in_use(current):
    old = issued_set(want())  # another CA's certificate in use: the disk pair is judged, as today
    plan = plan_present(
        want(), current["ca"], current["client"], current["server"], NOW, server_in_use=old["server"].cert
    )
    assert plan.issue == {} and not plan.server_kept


@pytest.mark.parametrize(
    ("request_overrides", "now", "expected"),
    [
        ({}, NOW + 340 * DAY, "within renew_before_days=30"),
        ({"renew_before_days": 364}, NOW + 2 * DAY, "within renew_before_days=364"),
        ({}, NOW + 400 * DAY, "expired on"),
        ({"hostnames": ["h1.example.test", "new.example.test"]}, NOW, "wanted DNS:h1.example.test, DNS:new"),
        ({"hostnames": ["other.example.test"]}, NOW, "wanted DNS:other.example.test"),
        ({"ip_addresses": []}, NOW, "SANs are DNS:h1.example.test, IP:192.0.2.10, wanted DNS:h1.example.test"),
        ({"ip_addresses": ["192.0.2.10", "192.0.2.11"]}, NOW, "IP:192.0.2.11"),
        ({"key_type": "rsa", "key_size": 2048}, NOW, "key is ecdsa P-256, wanted rsa 2048"),
        ({}, NOW - 2 * DAY, "not valid before"),
    ],
    ids=["renewal-window", "large-renew-before", "expired", "extra-name", "missing-name", "extra-ip",
         "missing-ip", "key-type", "not-yet-valid"],
)  # fmt: skip
def test_a_certificate_in_use_that_does_not_do_gets_a_new_pair(current, request_overrides, now, expected):
    request = want(**request_overrides)
    problems = cert_in_use_problems(current["server"].cert, current["ca"].cert, request, now)
    assert any(expected in problem for problem in problems), problems
    plan = plan_present(
        request, current["ca"], current["client"], pair("server"), now, server_in_use=current["server"].cert
    )
    assert "server" in plan.issue and not plan.server_kept
    assert plan.issue["server"].startswith("missing, and the certificate in use does not do: ")
    assert expected in plan.issue["server"]


def test_a_certificate_in_use_from_a_foreign_ca_is_not_kept(current):
    old = issued_set(want())
    assert cert_in_use_problems(old["server"].cert, current["ca"].cert, want(), NOW) == [
        "it was not issued by the CA of this run"
    ]
    plan = plan_present(want(), current["ca"], current["client"], pair("server"), NOW, server_in_use=old["server"].cert)
    assert "server" in plan.issue and not plan.server_kept


def test_a_client_certificate_in_use_is_not_a_server_certificate(current):
    problems = cert_in_use_problems(current["client"].cert, current["ca"].cert, want(), NOW)
    assert "extended key usage is clientAuth, wanted serverAuth" in problems


def test_a_new_ca_never_keeps_the_certificate_in_use(current):
    plan = plan_present(want(), pair("ca"), pair("client"), pair("server"), NOW, server_in_use=current["server"].cert)
    assert plan.issue["server"] == "missing"
    assert not plan.server_kept
