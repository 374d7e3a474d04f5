# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the Docker API client: option handling, certificate reading, error classification."""

from __future__ import annotations

import datetime
import errno
import hashlib
import http.client
import os
import pathlib
import socket
import ssl
import stat

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.doc_fragments.docker import ModuleDocFragment
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_api import (
    DEFAULT_DOCKER_HOST,
    DOCKER_CONNECTION_ARGUMENT_SPEC,
    DOCKER_CONNECTION_REQUIRED_TOGETHER,
    ConnectionSettings,
    DockerAPIError,
    Endpoint,
    backoff_delays,
    build_ssl_context,
    classify_connection_error,
    classify_tls_error,
    describe_certificate,
    environment_warnings,
    parse_api_version,
    parse_docker_host,
    resolve_connection,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import describe_cert

ENV_NAMES = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS_HOSTNAME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No DOCKER_* variables and an empty home: the developer's ~/.docker stays out of the tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


@pytest.fixture
def certs(tmp_path):
    """A cert_path as docker_tls_certs writes it: ca.pem, cert.pem, key.pem."""
    ca = TestCA(str(tmp_path / "ca"))
    client = ca.client()
    cert_dir = tmp_path / "docker"
    cert_dir.mkdir()
    for name, source in (("ca.pem", ca.cert_path), ("cert.pem", client.cert), ("key.pem", client.key)):
        (cert_dir / name).write_bytes(pathlib.Path(source).read_bytes())
    return ca, client, str(cert_dir)


def tcp_settings(**kwargs) -> ConnectionSettings:
    kwargs.setdefault("endpoint", Endpoint("tcp", host="203.0.113.10", port=2376))
    return ConnectionSettings(**kwargs)


# -- docker_host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tcp://203.0.113.10:2376", Endpoint("tcp", host="203.0.113.10", port=2376)),
        ("tcp://203.0.113.10", Endpoint("tcp", host="203.0.113.10", port=2376)),
        ("TCP://Host.Example:4243/", Endpoint("tcp", host="host.example", port=4243)),
        ("https://host.example:2376", Endpoint("tcp", host="host.example", port=2376)),
        ("tcp://[2001:db8::1]:2376", Endpoint("tcp", host="2001:db8::1", port=2376)),
        ("unix:///var/run/docker.sock", Endpoint("unix", path="/var/run/docker.sock")),
    ],
)
def test_parse_docker_host(value, expected):
    assert parse_docker_host(value) == expected


def test_endpoint_url_round_trips():
    assert parse_docker_host("tcp://[2001:db8::1]").url == "tcp://[2001:db8::1]:2376"
    assert parse_docker_host(DEFAULT_DOCKER_HOST).url == DEFAULT_DOCKER_HOST


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty"),
        ("203.0.113.10:2376", "no scheme"),
        ("http://203.0.113.10:2375", "plain HTTP"),
        ("ssh://user@host", "not supported"),
        ("tcp://host:notaport", "invalid port"),
        ("tcp://host:2376/path", "tcp://<host>:<port>"),
        ("tcp://user@host:2376", "tcp://<host>:<port>"),
        ("unix://relative.sock", "absolute path"),
    ],
)
def test_parse_docker_host_rejects_with_the_option_named(value, words):
    with pytest.raises(DockerAPIError) as caught:
        parse_docker_host(value)
    assert caught.value.kind == "invalid_option"
    assert "docker_host" in caught.value.message
    assert words in caught.value.message


# -- the option set and its environment --------------------------------------------------------------


def validate(params: dict) -> dict:
    result = ArgumentSpecValidator(
        DOCKER_CONNECTION_ARGUMENT_SPEC, required_together=DOCKER_CONNECTION_REQUIRED_TOGETHER
    ).validate(params)
    if result.error_messages:
        raise ValueError("; ".join(result.error_messages))
    return result.validated_parameters


def test_defaults_without_environment(clean_env):
    params = validate({})
    assert params["docker_host"] == DEFAULT_DOCKER_HOST
    assert params["tls_verify"] is True
    assert params["cert_path"] == os.path.expanduser("~/.docker")
    assert params["tls_hostname"] is None
    assert params["timeout"] == 10.0


def test_environment_fills_unset_options(clean_env):
    clean_env.setenv("DOCKER_HOST", "tcp://203.0.113.10:2376")
    clean_env.setenv("DOCKER_CERT_PATH", "/etc/docker-client")
    clean_env.setenv("DOCKER_TLS_HOSTNAME", "vm.example")
    params = validate({})
    assert params["docker_host"] == "tcp://203.0.113.10:2376"
    assert params["cert_path"] == "/etc/docker-client"
    assert params["tls_hostname"] == "vm.example"


def test_task_options_beat_environment(clean_env):
    clean_env.setenv("DOCKER_HOST", "tcp://203.0.113.10:2376")
    clean_env.setenv("DOCKER_TLS_HOSTNAME", "vm.example")
    params = validate({"docker_host": "tcp://198.51.100.7", "tls_hostname": "other.example", "tls_verify": False})
    assert params["docker_host"] == "tcp://198.51.100.7"
    assert params["tls_hostname"] == "other.example"
    assert params["tls_verify"] is False


def test_empty_environment_values_count_as_unset(clean_env):
    clean_env.setenv("DOCKER_HOST", "")
    clean_env.setenv("DOCKER_TLS_HOSTNAME", "")
    params = validate({})
    assert params["docker_host"] == DEFAULT_DOCKER_HOST
    assert params["tls_hostname"] is None


@pytest.mark.parametrize("value", ["0", "false", "no", "1", "yes"])
def test_docker_tls_verify_any_value_means_verify(clean_env, value):
    clean_env.setenv("DOCKER_TLS_VERIFY", value)
    assert validate({})["tls_verify"] is True


@pytest.mark.parametrize(("value", "warned"), [("0", True), ("False", True), ("no", True), ("1", False), ("", False)])
def test_environment_warnings_explain_docker_tls_verify_zero(value, warned):
    warnings = environment_warnings({"DOCKER_TLS_VERIFY": value})
    assert bool(warnings) is warned
    if warned:
        assert f"DOCKER_TLS_VERIFY={value}" in warnings[0]
        assert "tls_verify: false" in warnings[0]


def test_client_cert_and_key_are_required_together(clean_env):
    with pytest.raises(ValueError, match="client_cert"):
        validate({"client_cert": "/tmp/cert.pem"})


def test_doc_fragment_documents_exactly_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(DOCKER_CONNECTION_ARGUMENT_SPEC)
    for name, spec in DOCKER_CONNECTION_ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
    for env in ENV_NAMES:
        assert f"E({env})" in ModuleDocFragment.DOCUMENTATION


# -- resolving files ------------------------------------------------------------------------------------


def test_cert_path_supplies_all_three_files(certs, clean_env):
    _ca, _client, cert_dir = certs
    settings = resolve_connection({"docker_host": "tcp://203.0.113.10", "cert_path": cert_dir})
    assert settings.ca_cert == os.path.join(cert_dir, "ca.pem")
    assert settings.client_cert == os.path.join(cert_dir, "cert.pem")
    assert settings.client_key == os.path.join(cert_dir, "key.pem")
    assert settings.verify_name == "203.0.113.10"
    assert settings.uses_tls


def test_explicit_files_win_over_cert_path(certs, tmp_path):
    ca, client, cert_dir = certs
    settings = resolve_connection(
        {
            "docker_host": "tcp://203.0.113.10",
            "cert_path": cert_dir,
            "ca_cert": ca.cert_path,
            "client_cert": client.cert,
            "client_key": client.key,
            "tls_hostname": "vm.example",
        }
    )
    assert (settings.ca_cert, settings.client_cert, settings.client_key) == (ca.cert_path, client.cert, client.key)
    assert settings.verify_name == "vm.example"


def test_missing_default_files_mean_system_store_and_no_client_cert(tmp_path):
    settings = resolve_connection({"docker_host": "tcp://203.0.113.10", "cert_path": str(tmp_path)})
    assert settings.ca_cert is None
    assert "system CA store" in settings.ca_source
    assert settings.client_cert is None
    assert "no client certificate" in settings.client_source


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"cert_path": "/nonexistent/docker-certs"}, "cert_path /nonexistent/docker-certs is not a directory"),
        ({"ca_cert": "/nonexistent/ca.pem"}, "ca_cert /nonexistent/ca.pem does not exist"),
        ({"client_cert": "/nonexistent/c.pem", "client_key": "/nonexistent/k.pem"}, "client_cert /nonexistent/c.pem"),
        ({"client_cert": "/nonexistent/c.pem"}, "together"),
        ({"timeout": 0}, "timeout must be more than 0"),
    ],
)
def test_bad_files_fail_before_connecting(params, words):
    with pytest.raises(DockerAPIError) as caught:
        resolve_connection({"docker_host": "tcp://203.0.113.10", **params})
    assert caught.value.kind == "invalid_option"
    assert words in caught.value.message


def test_directory_given_as_ca_cert(tmp_path):
    with pytest.raises(DockerAPIError, match="is not a file"):
        resolve_connection({"docker_host": "tcp://203.0.113.10", "ca_cert": str(tmp_path)})


def test_half_a_client_pair_in_cert_path(certs):
    _ca, _client, cert_dir = certs
    os.unlink(os.path.join(cert_dir, "key.pem"))
    with pytest.raises(DockerAPIError, match=r"has cert\.pem but no key\.pem"):
        resolve_connection({"docker_host": "tcp://203.0.113.10", "cert_path": cert_dir})


def test_unix_socket_ignores_tls_options():
    settings = resolve_connection({"docker_host": "unix:///run/docker.sock", "ca_cert": "/nonexistent/ca.pem"})
    assert not settings.uses_tls
    assert settings.ca_cert is None


# -- the TLS context --------------------------------------------------------------------------------


def test_context_verifies_with_tls12_minimum(certs):
    ca, client, _cert_dir = certs
    ctx = build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=client.key))
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 1


def test_context_without_verification_only_when_asked(certs):
    ca, _client, _cert_dir = certs
    ctx = build_ssl_context(tcp_settings(ca_cert=ca.cert_path, tls_verify=False))
    assert ctx.verify_mode == ssl.CERT_NONE
    assert not ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_key_of_another_certificate(certs, tmp_path):
    ca, client, _cert_dir = certs
    other = ca.client("other")
    with pytest.raises(DockerAPIError, match=r"is not the private key of client_cert") as caught:
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=other.key))
    assert caught.value.kind == "invalid_option"


def test_encrypted_key_is_reported_not_prompted_for(certs, tmp_path):
    ca, client, _cert_dir = certs
    key = serialization.load_pem_private_key(pathlib.Path(client.key).read_bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(DockerAPIError, match="is encrypted"):
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=str(encrypted)))


def test_key_contents_never_reach_the_message(certs, tmp_path):
    ca, client, _cert_dir = certs
    canary = "CANARY-7f3e9a-never-print-me"
    bogus_key = tmp_path / "key.pem"
    bogus_key.write_text(f"-----BEGIN PRIVATE KEY-----\n{canary}\n-----END PRIVATE KEY-----\n")
    os.chmod(bogus_key, stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(DockerAPIError) as caught:
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=str(bogus_key)))
    assert canary not in caught.value.message
    assert str(bogus_key) in caught.value.message


def test_not_a_certificate(tmp_path, certs):
    ca, _client, _cert_dir = certs
    bogus = tmp_path / "ca.pem"
    bogus.write_text("hello\n")
    with pytest.raises(DockerAPIError, match=r"ca_cert .* is not a PEM CA certificate"):
        build_ssl_context(tcp_settings(ca_cert=str(bogus)))
    with pytest.raises(DockerAPIError, match=r"client_cert .* is not a PEM certificate"):
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=str(bogus), client_key=str(bogus)))


# -- reading certificates ---------------------------------------------------------------------------


def _self_signed(name: x509.Name, key, not_before, not_after, sans=None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256())


def _odd_names_cert() -> x509.Certificate:
    """Names RFC 4514 has to escape, a multi-valued RDN, attributes without a short name, GeneralizedTime."""
    oid = x509.NameOID
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.COUNTRY_NAME, "NL")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.ORGANIZATION_NAME, 'Example, "Docker" + <Hosts>;')]),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(oid.ORGANIZATIONAL_UNIT_NAME, "ops"), x509.NameAttribute(oid.USER_ID, "42")]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.EMAIL_ADDRESS, "ops@example.com")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.DOMAIN_COMPONENT, "example")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.STREET_ADDRESS, " Dam 1 ")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.COMMON_NAME, "#dockerhost-é-\\\\")]),
        ]
    )
    return _self_signed(
        name,
        ec.generate_private_key(ec.SECP256R1()),
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.datetime(2051, 6, 7, 8, 9, 10, tzinfo=datetime.UTC),  # GeneralizedTime from 2050 on
        [x509.DNSName("docker.example"), x509.UniformResourceIdentifier("https://docker.example/")],
    )


def _certificates(directory: pathlib.Path) -> dict[str, x509.Certificate]:
    ca = TestCA(str(directory), name="Docker CA")
    served = ca.server(
        "dockerhost1",
        dns_names=("dockerhost1.westeurope.cloudapp.azure.com",),
        ip_addresses=("203.0.113.10", "2001:db8::1"),
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    no_sans = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "no-sans")])
    return {
        "docker server pair": x509.load_pem_x509_certificate(pathlib.Path(served.cert).read_bytes()),
        "CA": x509.load_pem_x509_certificate(pathlib.Path(ca.cert_path).read_bytes()),
        "RSA without SANs, UTCTime": _self_signed(
            no_sans,
            rsa_key,
            datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
            datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
        ),
        "odd names": _odd_names_cert(),
    }


def test_describe_certificate_reads_as_docker_tls_certs_does(tmp_path):
    """The probe's own DER reader and docker_tls_certs' (cryptography) give the same strings, so a
    fingerprint or date from one compares to the other's as it is."""
    for label, cert in _certificates(tmp_path).items():
        described = describe_certificate(cert.public_bytes(serialization.Encoding.DER))
        expected = describe_cert(cert)
        for key in ("subject", "issuer", "not_before", "not_after"):
            assert described[key] == expected[key], (label, key)
        assert described["sha256_fingerprint"] == expected["fingerprint"], label
        # docker_tls_certs sorts the names it wants; the probe shows the certificate's own order.
        assert sorted(san for san in described["sans"] if not san.startswith("URI:")) == sorted(
            expected.get("sans", [])
        ), label


def test_describe_certificate_formats():
    described = describe_certificate(_odd_names_cert().public_bytes(serialization.Encoding.DER))
    assert described["subject"] == (
        "CN=\\#dockerhost-é-\\\\\\\\,STREET=\\ Dam 1\\ ,DC=example,1.2.840.113549.1.9.1=ops@example.com,"
        'OU=ops+UID=42,O=Example\\, \\"Docker\\" \\+ \\<Hosts\\>\\;,C=NL'
    )
    assert described["not_before"] == "2024-01-02T03:04:05+00:00"
    assert described["not_after"] == "2051-06-07T08:09:10+00:00"
    assert described["sans"] == ["DNS:docker.example", "URI:https://docker.example/"]
    assert len(described["sha256_fingerprint"]) == 64
    assert described["sha256_fingerprint"] == described["sha256_fingerprint"].lower()


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x02\x01\x01", os.urandom(64)])
def test_describe_certificate_survives_garbage(der):
    described = describe_certificate(der)
    assert described["sha256_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert described["sans"] == []


# -- classifying errors -------------------------------------------------------------------------------


def verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    exc.verify_code = code
    exc.verify_message = message
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    return exc


def alert(reason: str, cls=ssl.SSLError) -> ssl.SSLError:
    exc = cls(1, f"[SSL: {reason}] ({reason.lower()})")
    exc.reason = reason
    return exc


SERVER_CERT = {
    "subject": "CN=dockerhost1",
    "issuer": "CN=Docker CA",
    "sans": ["DNS:dockerhost1.westeurope.cloudapp.azure.com"],
    "not_before": "2024-01-01T00:00:00+00:00",
    "not_after": "2024-02-01T00:00:00+00:00",
    "sha256_fingerprint": "aa",
}


def test_hostname_mismatch_by_ip_suggests_tls_hostname():
    error = classify_tls_error(verify_error(64, "IP address mismatch"), tcp_settings(), server_cert=SERVER_CERT)
    assert error.kind == "tls_hostname_mismatch"
    assert "DNS:dockerhost1.westeurope.cloudapp.azure.com" in error.message
    assert "set tls_hostname" in error.message
    assert not error.retryable
    assert error.server_cert == SERVER_CERT


def test_hostname_mismatch_with_tls_hostname_names_it():
    error = classify_tls_error(
        verify_error(62, "Hostname mismatch"), tcp_settings(tls_hostname="old.example"), server_cert=SERVER_CERT
    )
    assert error.kind == "tls_hostname_mismatch"
    assert "'old.example'" in error.message


@pytest.mark.parametrize(("code", "words"), [(10, "expired on 2024-02-01T00:00:00+00:00"), (9, "not valid before")])
def test_expired_or_not_yet_valid(code, words):
    error = classify_tls_error(verify_error(code, "certificate has expired"), tcp_settings(), server_cert=SERVER_CERT)
    assert error.kind == "tls_expired"
    assert words in error.message
    assert "docker_tls_certs" in error.message


@pytest.mark.parametrize("code", [2, 18, 19, 20, 21])
def test_unknown_ca_names_the_trust_source(code):
    settings = tcp_settings(ca_cert="/etc/docker-client/ca.pem", ca_source="ca_cert /etc/docker-client/ca.pem")
    error = classify_tls_error(verify_error(code, "unable to get local issuer certificate"), settings)
    assert error.kind == "tls_unknown_ca"
    assert "ca_cert /etc/docker-client/ca.pem" in error.message
    assert not error.retryable


@pytest.mark.parametrize(
    "reason", ["SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA"]
)
def test_daemon_alerts_mean_client_rejected(reason):
    without = classify_tls_error(alert(reason), tcp_settings(client_source="no client certificate was sent: x"))
    assert without.kind == "tls_client_rejected"
    assert "no client certificate was sent" in without.message
    with_cert = classify_tls_error(alert(reason), tcp_settings(client_cert="/c/cert.pem", client_key="/c/key.pem"))
    assert with_cert.kind == "tls_client_rejected"
    assert "/c/cert.pem" in with_cert.message
    assert not with_cert.retryable


def test_expired_client_certificate():
    error = classify_tls_error(
        alert("SSLV3_ALERT_CERTIFICATE_EXPIRED"), tcp_settings(client_cert="/c/cert.pem", client_key="/c/key.pem")
    )
    assert error.kind == "tls_client_rejected"
    assert "has expired" in error.message


@pytest.mark.parametrize("reason", ["WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"])
def test_plain_http_answers(reason):
    error = classify_tls_error(alert(reason), tcp_settings())
    assert error.kind == "not_tls"
    assert "plain HTTP" in error.message
    assert not error.retryable


def test_closed_after_handshake_is_a_probable_rejection_worth_retrying():
    error = classify_tls_error(alert("", ssl.SSLEOFError), tcp_settings(), handshake_done=True)
    assert error.kind == "tls_client_rejected"
    assert error.retryable
    assert "no TLS alert arrived" in error.message


def test_closed_during_handshake_is_retried():
    error = classify_tls_error(alert("", ssl.SSLEOFError), tcp_settings())
    assert error.kind == "connection_refused"
    assert error.retryable


def test_other_handshake_failures():
    error = classify_tls_error(alert("TLSV1_ALERT_PROTOCOL_VERSION"), tcp_settings())
    assert error.kind == "tls_protocol"
    assert "TLS 1.2" in error.message


@pytest.mark.parametrize(
    ("exc", "step", "kind", "retryable", "words"),
    [
        (TimeoutError(), "connect", "timeout", True, "firewall"),
        (TimeoutError(), "handshake", "timeout", True, "nothing answered the TLS handshake"),
        (TimeoutError(), "GET /info", "timeout", True, "GET /info got no answer"),
        (TimeoutError(), "lookup", "dns", True, "DNS server"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "lookup", "dns", True, "does not resolve"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connect", "connection_refused", True, "port 2376"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "connect", "connection_refused", True, "No route"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "handshake", "connection_refused", True, "handshake"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "GET /info", "http_error", True, "dropped"),
        (http.client.BadStatusLine("SSH-2.0"), "GET /_ping", "http_error", False, "not HTTP"),
    ],
)
def test_classify_connection_errors(exc, step, kind, retryable, words):
    error = classify_connection_error(exc, tcp_settings(), step, handshake_done=step.startswith("GET"))
    assert (error.kind, error.retryable) == (kind, retryable)
    assert words in error.message


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), "there is no socket at /run/docker.sock"),
        (PermissionError(errno.EACCES, "Permission denied"), "docker group"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "stale"),
    ],
)
def test_unix_socket_errors(exc, words):
    settings = ConnectionSettings(Endpoint("unix", path="/run/docker.sock"))
    error = classify_connection_error(exc, settings, "connect")
    assert error.kind == "connection_refused"
    assert words in error.message


def test_error_kinds_are_closed():
    with pytest.raises(ValueError, match="unknown error kind"):
        raise DockerAPIError("something_else", "no")


# -- waiting and versions --------------------------------------------------------------------------


def test_backoff_starts_short_and_is_capped():
    delays = backoff_delays()
    first = [next(delays) for _attempt in range(10)]
    assert first[0] == 0.05
    assert first == sorted(first)
    assert max(first) == 0.25
    # Waiting 2 s makes enough attempts to notice a daemon within about half a second.
    total, attempts = 0.0, 0
    for delay in backoff_delays():
        total += delay
        attempts += 1
        if total >= 2:
            break
    assert attempts >= 9


@pytest.mark.parametrize(("value", "expected"), [("1.41", (1, 41)), (" 1.9 ", (1, 9)), (None, None), ("", None)])
def test_parse_api_version(value, expected):
    assert parse_api_version(value) == expected


@pytest.mark.parametrize("value", ["1", "v1.41", "1.41.0", "latest"])
def test_parse_api_version_rejects(value):
    with pytest.raises(DockerAPIError, match="min_api_version") as caught:
        parse_api_version(value)
    assert caught.value.kind == "invalid_option"
