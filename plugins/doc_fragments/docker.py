# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Docker connection options, documented once. Their argument spec lives next to the client that uses
# them: plugins/module_utils/_docker_options.py (DOCKER_CONNECTION_ARGUMENT_SPEC); a unit test keeps the
# two in step.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - Where the Docker daemon listens. V(tcp://HOST:PORT) always uses TLS (port V(2376) when left out);
        V(unix:///PATH) is a local socket, protected by its file permissions, for which the TLS options are
        ignored.
      - Plain HTTP is never used. V(http://) is refused, and a V(tcp://) port that answers without TLS is an
        error, never a fallback.
      - If not set in the task, E(DOCKER_HOST) is used when it is set to a non-empty value.
    type: str
    default: unix:///var/run/docker.sock
  tls_verify:
    description:
      - Verify the daemon's certificate, both its issuer (O(ca_cert)) and its name (O(tls_hostname), or the host
        in O(docker_host)).
      - V(false) still uses TLS and still presents the client certificate, but accepts any server certificate,
        so anyone on the path could pose as the daemon and receive your commands. The module warns when it is
        off; use it only to diagnose.
      - If not set in the task, a non-empty E(DOCKER_TLS_VERIFY) means V(true). As for the Docker CLI, any
        non-empty value counts, V(0) included, so the environment can never turn verification off (a value such
        as V(0) or V(false) gets a warning saying so). Only O(tls_verify=false) in the task turns it off.
    type: bool
    default: true
  cert_path:
    description:
      - Directory with C(ca.pem), C(cert.pem) and C(key.pem), as M(dockerhost.azure.docker_tls_certs) writes
        them and the Docker CLI reads them. Each file is used when present, unless O(ca_cert), O(client_cert)
        or O(client_key) names another.
      - If not set in the task, E(DOCKER_CERT_PATH) is used when it is set to a non-empty value.
      - A directory other than the default must exist; C(cert.pem) without C(key.pem) there (or the reverse)
        is an error.
    type: path
    default: ~/.docker
  ca_cert:
    description:
      - PEM file of the CA that issued the daemon's certificate. Defaults to C(ca.pem) in O(cert_path).
      - When neither exists the task fails before connecting, as the Docker CLI does, unless
        O(use_system_ca_store=true) or O(tls_verify=false).
      - Given explicitly, the file must exist. Certificate and key files must be regular files (not symlinks,
        FIFOs or devices) of at most 1 MiB.
      - The file holds exactly one PEM certificate and nothing else; a bundle of several CAs is refused, naming
        the file, since every CA in it would be trusted. O(client_cert) and O(client_key) likewise hold
        exactly one PEM block each.
    type: path
  client_cert:
    description:
      - PEM file of the client certificate the daemon checks (its C(tlsverify)). Defaults to C(cert.pem) in
        O(cert_path).
      - Requires O(client_key). Without either (and without C(cert.pem) in O(cert_path)) no client certificate
        is sent, and a daemon with C(tlsverify) refuses the connection.
    type: path
  client_key:
    description:
      - PEM file of the unencrypted private key of O(client_cert). Defaults to C(key.pem) in O(cert_path).
      - Requires O(client_cert). The key is loaded into the TLS library only; it never appears in results
        or messages.
    type: path
  tls_hostname:
    description:
      - The name to verify the daemon's certificate against when it is not the host in O(docker_host), and
        the name sent as TLS SNI. Typical use is to connect to an IP address and verify the FQDN on the
        certificate, such as V(myhost.westeurope.cloudapp.azure.com).
      - A host name or IP address, checked whole (a trailing line break is refused).
      - If not set in the task, E(DOCKER_TLS_HOSTNAME) is used when it is set to a non-empty value.
    type: str
  use_system_ca_store:
    description:
      - Verify the daemon against the system's CA store when there is no CA file (neither O(ca_cert) nor
        C(ca.pem) in O(cert_path)); E(SSL_CERT_FILE) and E(SSL_CERT_DIR) can point it elsewhere.
      - Only for a daemon whose certificate a CA in that store issued. A Docker CA made by
        M(dockerhost.azure.docker_tls_certs) is never there, and every CA in the store could vouch for the host.
      - With V(false), a missing CA file is an error. A CA file that exists is always used instead.
    type: bool
    default: false
    version_added: 1.0.0
  timeout:
    description:
      - Seconds each step may take (connecting, the TLS handshake, each API request), and one attempt as a
        whole.
      - More than V(0) and at most V(3600).
    type: float
    default: 10
notes:
  - The connection can be set up through the environment, as for the Docker CLI, with E(DOCKER_HOST),
    E(DOCKER_TLS_VERIFY), E(DOCKER_CERT_PATH) and E(DOCKER_TLS_HOSTNAME). Options set in the task win, and
    an empty variable counts as unset.
  - The Docker Engine API is reached with Python's standard library (C(ssl) and C(http.client)); neither the
    Docker SDK for Python nor C(requests) is needed, so E(REQUESTS_CA_BUNDLE) and E(CURL_CA_BUNDLE) have no
    effect. TLS 1.2 is the minimum version.
"""
