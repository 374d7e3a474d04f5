# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option checks of docker_tls_certs: fullmatch everywhere, addresses a certificate can hold, file options."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._tls_request import (
    CertsError,
    build_request,
    check_file_args,
    normalize_ip_address,
)


def want(**overrides):
    options = {"path": "/certs", "server_name": "h1", "hostnames": ["h1.example.test"]}
    options.update(overrides)
    return build_request(**options)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"server_name": "web\n"}, "server_name 'web\\n' must be"),
        ({"hostnames": ["h1.example.test\n"]}, "hostnames: 'h1.example.test\\n' is not a valid DNS name"),
        ({"ip_addresses": ["192.0.2.1\n"]}, "ip_addresses: '192.0.2.1\\n' is not an IPv4 or IPv6 address"),
        ({"key_mode": "0600\n"}, "key_mode must be '0600' or '0400'"),
        ({"path": "/certs\n"}, "path '/certs\\n' holds a control character"),
        ({"state": "present\n"}, "state must be 'present' or 'absent'"),
        ({"key_type": "ecdsa\n"}, "key_type must be one of"),
    ],
)
def test_a_trailing_newline_is_refused(override, message):
    # re.match with "$" accepted "web\n" and made servers/web\n/ (issue 13 item 7).
    with pytest.raises(CertsError) as caught:
        want(**override)
    assert message in str(caught.value)


@pytest.mark.parametrize("value", ["fe80::1%eth0", "fe80::1%1"])
def test_a_scoped_ipv6_address_is_refused(value):
    # A certificate cannot hold the zone: the address read back never equals it, every run re-issued.
    with pytest.raises(CertsError, match=r"has a zone \(%.+\), which a certificate cannot hold"):
        want(ip_addresses=[value])


def test_ip_addresses_are_canonical():
    assert normalize_ip_address("2001:DB8:0::1") == "2001:db8::1"
    assert normalize_ip_address("::ffff:192.0.2.1") == "::ffff:c000:201"
    assert want(ip_addresses=["192.0.2.2", "192.0.2.1", "192.0.2.1"]).ip_addresses == ("192.0.2.1", "192.0.2.2")
    with pytest.raises(CertsError, match="is not an IPv4 or IPv6 address"):
        normalize_ip_address(12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"owner": "no-such-user-here"}, "owner: there is no user 'no-such-user-here' here"),
        ({"owner": "root\n"}, "owner 'root\\n' is not a valid name"),
        ({"group": "no-such-group-here"}, "group: there is no group 'no-such-group-here' here"),
        ({"group": "daemon\n"}, "group 'daemon\\n' is not a valid name"),
        ({"mode": "u+rwz"}, "mode 'u+rwz' is neither an octal mode"),
        ({"mode": "0644\n"}, "mode '0644\\n' is neither an octal mode"),
        ({"mode": "0666"}, "mode '0666' makes the certificates writable by group or other"),
        ({"mode": 0o664}, "makes the certificates writable by group or other"),
        ({"mode": "g+w"}, "makes the certificates writable by group or other"),
        ({"mode": "a=rw"}, "makes the certificates writable by group or other"),
        ({"mode": "+w"}, "makes the certificates writable by group or other"),
        ({"setype": "cert_t\n"}, "setype 'cert_t\\n' is not a valid SELinux context part"),
        ({"attributes": "+i\n"}, "attributes '+i\\n' are not chattr attributes"),
    ],
)
def test_bad_file_options_are_refused_before_anything(args, message):
    with pytest.raises(CertsError) as caught:
        check_file_args(**args)
    assert message in str(caught.value)
    with pytest.raises(CertsError):
        want(file_args=args)
    with pytest.raises(CertsError):
        want(state="absent", file_args=args)


@pytest.mark.parametrize("mode", ["0644", "644", "0o600", 0o640, "u=rw,go=r", "u+x", "go-w", "a=r"])
def test_good_modes_pass(mode):
    assert check_file_args(mode=mode) is None


def test_owner_uid_is_returned_and_kept():
    assert check_file_args(owner="root") == 0
    assert check_file_args(owner="1234", group="0") == 1234
    assert want(file_args={"owner": "daemon"}).owner_uid == check_file_args(owner="daemon")
