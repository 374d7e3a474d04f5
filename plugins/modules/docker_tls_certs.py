#!/usr/bin/python
# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_tls_certs
short_description: The Docker TLS certificate set (CA, client and server pairs), shared across hosts
version_added: 1.0.0
description:
  - Creates the certificates that let a Docker client talk to Docker daemons over mutual TLS, as
    C(azure vm docker create) did in 2014. By default they are placed in C(~/.docker), where the docker CLI
    looks for them, and on later runs the existing CA and client pair are reused and shared with every new host.
  - One directory O(path) holds the CA (C(ca.pem), C(ca-key.pem)), the client pair (C(cert.pem), C(key.pem))
    and one server pair per Docker host in C(servers/<server_name>/server-cert.pem) and
    C(servers/<server_name>/server-key.pem).
  - Server certificates carry the O(hostnames) and O(ip_addresses) as subject alternative names and the
    serverAuth extended key usage; the client certificate carries clientAuth; the CA has basicConstraints
    CA:TRUE (critical) and key usage keyCertSign and cRLSign. Every certificate has a subject key identifier,
    every leaf an authority key identifier; signatures use SHA-256, serials are random, notBefore is set a few
    minutes back for clock skew.
  - A leaf inside the renewal window, expired, not signed by the current CA, or whose SANs, extended key usage or
    key type differ from what is asked is re-issued. The CA is never replaced silently, see O(rotate_ca).
  - It never destroys what it did not make. An existing C(cert.pem)/C(key.pem) not issued by C(ca.pem), a
    C(ca.pem) whose key is not C(ca-key.pem), half a pair, an encrypted key, unparsable PEM, or a file holding
    anything but exactly one PEM block of its type (for example a second certificate appended to C(ca.pem))
    make the task fail, naming the file and the problem, and every file stays untouched (O(force=true) replaces
    them). Only regular files of at most 1 MiB are read. The folder
    C(servers/<server_name>) belongs to this module, so a server pair there that the current CA did not sign
    (the CA was rotated on a run for another host) is re-issued.
  - The directory is trusted only as ssh trusts C(~/.ssh). O(path), C(servers), C(servers/<server_name>),
    C(ca.pem) and C(ca-key.pem) must be owned by the user running the task, by root, or by the user named in
    O(owner), and must not be writable by group or other; otherwise the task fails naming the path, its owner
    and its mode, and changes nothing. A CA someone else could have written would be trusted by every daemon.
  - No symlink below O(path) is followed; a symlink in place of C(servers), C(servers/<server_name>) or any
    file of the set makes the task fail naming it, whatever O(force). O(path) itself may be a symlink; the
    directory it points to is checked.
  - Files are written atomically (a temp file in the same directory, then a rename). Private keys get
    O(key_mode) and certificates C(0644) whatever the umask; a directory the module creates gets C(0700).
    Keys are unencrypted PEM (PKCS#8), since dockerd cannot read encrypted keys; keep O(path) private.
  - Runs for several hosts at once (a play over many hosts, delegated to the controller) take turns on the
    directory through a lock on it, so the first makes the CA and the client pair and the others reuse them.
  - A run killed while it renames its files into place leaves a journal, C(.docker_tls_certs.journal); the
    next run finishes those renames (no half pair, no O(force) needed) and removes the temp files a killed run
    left (C(.<file>.<8 characters>.tmp), regular files of the running user only).
  - Every option is checked before anything is written, O(owner), O(group) and O(mode) included.
  - Uses the Python C(cryptography) library; no C(openssl) command is run.
author:
  - dockerhost.azure contributors (@dockerhost)
requirements:
  - Python 3.8 or later where the module runs (usually the controller). ansible-core 2.18 and later refuse
    older target Pythons themselves; with earlier ansible-core an older Python is not supported.
  - cryptography >= 41.0 for that Python.
extends_documentation_fragment:
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Check mode reports what would be issued or removed, with the reasons, and writes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows certificate metadata (subject, issuer, SANs, validity, key type, SHA-256 fingerprint) and
        file permission changes, never key bytes.
  platform:
    platforms: posix
options:
  path:
    description:
      - The directory of the certificate set. Created with mode C(0700) if missing.
      - The docker CLI reads C(ca.pem), C(cert.pem) and C(key.pem) from C(~/.docker) by default, or from the
        directory named by E(DOCKER_CERT_PATH).
    type: path
    default: ~/.docker
  server_name:
    description:
      - Names one Docker host's server pair, stored in C(servers/<server_name>/) under O(path).
      - Letters, digits, V(.), V(_) and V(-), at most 64 characters (a trailing newline is refused too); it is
        also the server certificate's common name.
      - Without it, only the CA and the client pair are managed. Required with O(state=absent).
    type: str
  hostnames:
    description:
      - DNS names of the Docker host, written as DNS subject alternative names of the server certificate; clients
        verify the name they connect to against them. A leading V(*.) wildcard label is allowed.
      - Needs O(server_name). At least one of O(hostnames) and O(ip_addresses) is required with O(server_name).
    type: list
    elements: str
    default: []
  ip_addresses:
    description:
      - IPv4 or IPv6 addresses of the Docker host, written as IP subject alternative names of the server
        certificate.
      - An IPv6 address with a zone (V(fe80::1%eth0)) is refused, since a certificate cannot hold the zone.
      - Needs O(server_name).
    type: list
    elements: str
    default: []
  server_cert_in_use:
    description:
      - The PEM text of the certificate the host's Docker daemon presents now, for example
        RV(dockerhost.azure.docker_host_probe#module:server_cert.pem). Public data.
      - For a control node that holds the CA and the client pair but not this host's server pair (an AWX job,
        a CI runner). When the server pair of O(server_name) is not in O(path) and this certificate was issued
        by C(ca.pem), is valid now and not within O(renew_before_days) of its end, has exactly the SANs asked
        (O(hostnames), O(ip_addresses)), the serverAuth usage and the key type asked, it is kept - nothing is
        written for the server pair and RV(server_kept) is V(true); RV(server_cert) is then this PEM text and
        RV(server_key) is V(null), since the key is only on the host. Otherwise a new server pair is issued
        and RV(reasons) says why the certificate in use did not do.
      - Ignored when the server pair is in O(path); the pair on disk is judged as usual.
      - Text that is not one PEM certificate fails the task before anything is written.
    type: str
    version_added: 1.1.0
  key_type:
    description:
      - The type of new private keys. V(ecdsa) is NIST P-256.
    type: str
    choices: [ecdsa, rsa]
    default: ecdsa
  key_size:
    description:
      - RSA key size in bits, from V(2048) to V(8192), for O(key_type=rsa) only. Defaults to V(4096).
    type: int
  ca_valid_days:
    description:
      - Validity of a new CA, in days.
    type: int
    default: 3650
  cert_valid_days:
    description:
      - Validity of new client and server certificates, in days. Must not exceed O(ca_valid_days); a certificate
        issued when the CA has less time left ends with the CA.
    type: int
    default: 365
  renew_before_days:
    description:
      - A client or server certificate that expires within this many days is re-issued.
      - A CA inside this window makes the task fail unless O(rotate_ca=true).
      - Must be less than O(cert_valid_days).
    type: int
    default: 30
  rotate_ca:
    description:
      - Allow replacing a CA that has expired or expires within O(renew_before_days). The new CA re-issues the
        client pair and this host's server pair; other hosts' server pairs are re-issued when the module runs
        for them, and until then their daemons only accept clients of the old CA.
      - A CA that is not due is never replaced, so the task stays idempotent with this set.
    type: bool
    default: false
  force:
    description:
      - Replace files that are in the way instead of failing on them (unparsable PEM, an encrypted key, half a
        pair, a key that does not match its certificate, a client pair not issued by C(ca.pem)).
      - Files that pass those checks are kept. To start over, remove the directory.
    type: bool
    default: false
  state:
    description:
      - V(present) issues what is missing or due.
      - V(absent) removes the server pair of O(server_name) (and its folder if it is then empty); the CA and the
        client pair are never removed.
    type: str
    choices: [present, absent]
    default: present
  key_mode:
    description:
      - Permissions of the private key files, V('0600') or V('0400'). Quote it, or Ansible reads a number.
      - Applied to new keys from the start (whatever the umask) and enforced on existing ones.
    type: raw
    default: '0600'
  mode:
    description:
      - Permissions of the certificate files. New certificates are C(0644) whatever the umask; when O(mode) is
        set it is applied to every certificate of the set. Private keys follow O(key_mode) instead.
      - A mode that makes the certificates writable by group or other (for example V('0664') or V(g+w)) is
        refused.
      - O(owner), O(group), the SELinux options and O(attributes) apply to every file of the set and to
        directories the module creates. The user named by O(owner) is trusted like the one running the task.
      - O(unsafe_writes) is ignored, since writes are always atomic.
    type: raw
notes:
  - The CA key is unencrypted on disk, as in the 2014 flow; whoever can read it can issue certificates the
    daemons trust.
  - Running as root over another user's directory (for example with C(become)) fails the ownership check unless
    O(owner) names that user.
  - The paths in the results are absolute; pass RV(ca_cert), RV(server_cert) and RV(server_key) to
    M(dockerhost.azure.azure_docker_vm), and RV(cert_path) to the docker CLI as E(DOCKER_CERT_PATH).
seealso:
  - module: dockerhost.azure.azure_docker_vm
    description: Creates the Azure VM whose daemon serves the server pair.
  - module: dockerhost.azure.docker_host_probe
    description: Checks the daemon over mutual TLS with the client pair.
  - name: Protect the Docker daemon socket
    description: Docker's guide to the same certificate set made with openssl.
    link: https://docs.docker.com/engine/security/protect-access/
"""

EXAMPLES = r"""
- name: Certificates for a Docker host (reuses the CA and client pair already in ~/.docker)
  dockerhost.azure.docker_tls_certs:
    server_name: mydockerhost
    hostnames:
      - mydockerhost.westeurope.cloudapp.azure.com
    ip_addresses:
      - 203.0.113.10
  register: certs

- name: Then talk to the host with the docker CLI
  ansible.builtin.command:
    cmd: docker --tlsverify -H tcp://mydockerhost.westeurope.cloudapp.azure.com:2376 info
  environment:
    DOCKER_CERT_PATH: "{{ certs.cert_path }}"
  changed_when: false

- name: RSA keys in a project directory, keys readable by the owner only
  dockerhost.azure.docker_tls_certs:
    path: "{{ playbook_dir }}/certs"
    server_name: build01
    hostnames: [build01.example.com]
    key_type: rsa
    key_size: 3072
    key_mode: '0400'

- name: Replace the CA when it is near its expiry (every host then needs its new server pair)
  dockerhost.azure.docker_tls_certs:
    server_name: mydockerhost
    hostnames: [mydockerhost.westeurope.cloudapp.azure.com]
    rotate_ca: true

- name: Forget a host's server pair (the CA and the client pair stay)
  dockerhost.azure.docker_tls_certs:
    server_name: mydockerhost
    state: absent
"""

RETURN = r"""
cert_path:
  description: Absolute path of the directory; the docker CLI's E(DOCKER_CERT_PATH).
  returned: always
  type: str
  sample: /home/me/.docker
ca_cert:
  description: Absolute path of the CA certificate.
  returned: always
  type: str
  sample: /home/me/.docker/ca.pem
ca_key:
  description: Absolute path of the CA private key.
  returned: always
  type: str
  sample: /home/me/.docker/ca-key.pem
client_cert:
  description: Absolute path of the client certificate.
  returned: always
  type: str
  sample: /home/me/.docker/cert.pem
client_key:
  description: Absolute path of the client private key.
  returned: always
  type: str
  sample: /home/me/.docker/key.pem
server_cert:
  description:
    - Absolute path of the server certificate of O(server_name); V(null) without O(server_name).
    - When RV(server_kept) is V(true), the PEM text of the certificate in use instead (no file was written);
      M(dockerhost.azure.azure_docker_vm) takes either in its O(dockerhost.azure.azure_docker_vm#module:server_cert).
  returned: always
  type: str
  sample: /home/me/.docker/servers/mydockerhost/server-cert.pem
server_key:
  description:
    - Absolute path of the server private key of O(server_name); V(null) without O(server_name), and when
      RV(server_kept) is V(true) (the key is only on the host).
  returned: always
  type: str
  sample: /home/me/.docker/servers/mydockerhost/server-key.pem
server_kept:
  description:
    - Whether the certificate the daemon presents (O(server_cert_in_use)) was kept because it still does, so
      that no server pair was issued or written. When it did not do, RV(reasons) says why under V(server).
  returned: when O(state=present)
  type: bool
  sample: true
  version_added: 1.1.0
ca_fingerprint:
  description:
    - SHA-256 of the CA certificate (DER), lower-case hex.
    - V(null) in check mode when a new CA would be issued.
  returned: when O(state=present)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
server_fingerprint:
  description:
    - SHA-256 of the server certificate (DER), lower-case hex.
    - V(null) without O(server_name), and in check mode when a new one would be issued.
  returned: when O(state=present)
  type: str
  sample: 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
server_not_after:
  description:
    - End of the server certificate's validity, ISO 8601 in UTC.
    - V(null) without O(server_name), and in check mode when a new one would be issued.
  returned: when O(state=present)
  type: str
  sample: '2027-01-01T12:00:00+00:00'
server_sans:
  description: Subject alternative names of the server certificate (as wanted, in check mode).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [DNS:mydockerhost.westeurope.cloudapp.azure.com, IP:203.0.113.10]
issued:
  description: Which of V(ca), V(client) and V(server) were issued this run (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [server]
reasons:
  description: Why each certificate in RV(issued) was issued.
  returned: always
  type: dict
  sample: {server: missing}
removed:
  description: Files removed by O(state=absent) (would be, in check mode).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: [/home/me/.docker/servers/mydockerhost/server-key.pem]
"""

import contextlib
import datetime
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import (
    AtomicBatch,
    FileReadError,
    JournalError,
    finish_interrupted,
    locked_dir,
    make_private_dirs,
    read_regular_file,
    remove_file,
    remove_own_temps,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._cert_dir import (
    JOURNAL,
    check_cert_dir,
    own_basenames,
    trusted_uids,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_certs import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    ROLES,
    CertsError,
    Request,
    X509Error,
    issue_material,
    plan_absent,
    plan_present,
    predict_cert,
    read_pair,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_certs import (
    build_request as _build_request,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    cert_not_after,
    cert_pem,
    cert_sans,
    describe_cert,
    fingerprint,
    key_pem,
    parse_cert,
    san_strings,
)

CERT_MODE = 0o644
FILE_ARGS = ("mode", "owner", "group", "seuser", "serole", "setype", "selevel", "attributes")

ARGUMENT_SPEC = {
    "path": {"type": "path", "default": "~/.docker"},
    "server_name": {"type": "str"},
    "hostnames": {"type": "list", "elements": "str", "default": []},
    "ip_addresses": {"type": "list", "elements": "str", "default": []},
    "key_type": {"type": "str", "choices": ["ecdsa", "rsa"], "default": "ecdsa"},
    "key_size": {"type": "int"},
    "ca_valid_days": {"type": "int", "default": 3650},
    "cert_valid_days": {"type": "int", "default": 365},
    "renew_before_days": {"type": "int", "default": 30},
    "rotate_ca": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "key_mode": {"type": "raw", "default": "0600", "no_log": False},
    "server_cert_in_use": {"type": "str"},
}


class TLSCertsManager:
    """Reads the set, plans, and (outside check mode) applies the plan."""

    def __init__(self, module: AnsibleModule, request: Request, in_use=None) -> None:
        self.module = module
        self.request = request
        self.in_use = in_use  # the certificate the daemon presents (server_cert_in_use), parsed
        self.layout = request.layout
        self.uids = trusted_uids(request.owner_uid)
        self.diff: dict = {"before": {}, "after": {}}
        self.healed: list[str] = []  # files an interrupted run left, finished or removed this run

    # -- before reading: trust, and what a killed run left ------------------------------------------
    def _heal(self) -> None:
        """Finish the renames of a run killed between them, remove its temp files (ours only)."""
        layout = self.layout
        journal = os.path.join(layout.directory, JOURNAL)
        if self.module.check_mode:
            if os.path.lexists(journal):
                self.healed.append(journal)
                self.module.warn(f"{journal}: a run was interrupted; the next run without check mode finishes it")
            return
        finished = finish_interrupted(journal)
        removed = []
        for directory, basenames in own_basenames(layout).items():
            removed += remove_own_temps(directory, basenames)
        if finished:
            self.module.warn(f"finished the renames of an interrupted run: {', '.join(finished)}")
        self.healed = finished + removed

    # -- file attributes (owner, group, modes, SELinux) ---------------------------------------------
    def _file_args(self, path: str, mode) -> dict:
        args = self.module.load_file_common_arguments(self.module.params, path=path)
        args["mode"] = mode
        return args

    def _enforce_attributes(self, paths_and_modes: list[tuple[str, object]]) -> bool:
        changed = False
        for path, mode in paths_and_modes:
            if not os.path.exists(path):
                continue
            file_diff: dict = {"before": {}, "after": {}}
            changed = self.module.set_fs_attributes_if_different(self._file_args(path, mode), changed, file_diff)
            if file_diff["before"] or file_diff["after"]:
                name = os.path.relpath(path, self.layout.directory)
                self.diff["before"].setdefault("files", {})[name] = file_diff["before"]
                self.diff["after"].setdefault("files", {})[name] = file_diff["after"]
        return changed

    def _paths_and_modes(self, roles) -> list[tuple[str, object]]:
        cert_mode = self.module.params["mode"]
        out = []
        for role in roles:
            cert_path, key_path = self.layout.pair_paths(role)
            out.append((key_path, self.request.key_mode))
            if cert_mode is not None or self._needs_attribute_pass():
                out.append((cert_path, cert_mode))
        return out

    def _needs_attribute_pass(self) -> bool:
        params = self.module.params
        names = ("owner", "group", "seuser", "serole", "setype", "selevel", "attributes")
        return any(params.get(name) is not None for name in names)

    # -- present --------------------------------------------------------------------------------------
    def present(self) -> dict:
        layout = self.layout
        check_cert_dir(layout, self.uids)
        if self.module.check_mode:
            self._heal()
            return self._present(created=[])
        # Parallel runs (one per host, delegated to the controller) take turns on the directory, so only
        # the first makes the CA and the client pair and the others reuse them.
        created = make_private_dirs(layout.directory)
        with locked_dir(layout.directory):
            check_cert_dir(layout, self.uids)  # again, now that no other run of ours can change it
            self._heal()
            return self._present(created)

    def _present(self, created: list[str]) -> dict:
        layout, request = self.layout, self.request
        roles = [role for role in ROLES if role != "server" or layout.server_name]
        pairs = {role: read_pair(role, *layout.pair_paths(role)) for role in roles}
        now = datetime.datetime.now(datetime.timezone.utc)
        in_use = self.in_use if layout.server_name else None
        plan = plan_present(request, pairs["ca"], pairs["client"], pairs.get("server"), now, server_in_use=in_use)
        for warning in plan.warnings:
            self.module.warn(warning)
        if plan.refusals:
            hint = " Move the files named above away, or set force=true to replace them." if plan.forceable else ""
            if self.healed:  # check mode over a killed run: the half pair is ours, a real run finishes it
                hint = " A run was interrupted here: run without check mode to finish it (no force needed)."
            self.module.fail_json(
                msg=f"Refusing to change anything in {layout.directory}: {'; '.join(plan.refusals)}. "
                f"Nothing was written.{hint}",
                refusals=list(plan.refusals),
                cert_path=layout.directory,
            )

        issued = {}
        if plan.issue and not self.module.check_mode:
            issued = issue_material(plan, request, pairs["ca"], now)
            self._write(issued, created)

        certs = {}
        for role in roles:
            before = pairs[role].cert
            self.diff["before"][role] = describe_cert(before) if before is not None else None
            if role in issued:
                certs[role] = issued[role].cert
                self.diff["after"][role] = describe_cert(certs[role])
            elif role in plan.issue:
                certs[role] = None
                self.diff["after"][role] = predict_cert(role, request, pairs["ca"], now, "ca" in plan.issue)
            elif role == "server" and plan.server_kept:
                certs[role] = in_use  # on the host, not on disk: the diff shows it on both sides
                self.diff["before"][role] = self.diff["after"][role] = describe_cert(in_use)
            else:
                certs[role] = before
                self.diff["after"][role] = self.diff["before"][role]

        # Owner, group, SELinux context and modes of files not issued this run (new ones already have their
        # modes; in check mode, files to be issued are judged by the issue itself).
        attribute_roles = [r for r in roles if r in issued or (r not in plan.issue)]
        changed = bool(plan.issue or self.healed)
        changed = self._enforce_attributes(self._paths_and_modes(attribute_roles)) or changed

        server = certs.get("server")
        result = {
            "changed": changed,
            "server_kept": plan.server_kept,
            "issued": [role for role in ROLES if role in plan.issue],
            "reasons": dict(plan.issue),
            "ca_fingerprint": fingerprint(certs["ca"]) if certs["ca"] is not None else None,
            "server_fingerprint": fingerprint(server) if server is not None else None,
            "server_not_after": cert_not_after(server).isoformat() if server is not None else None,
            "server_sans": (
                san_strings(*cert_sans(server))
                if server is not None
                else (san_strings(*request.sans) if layout.server_name else [])
            ),
        }
        return result

    def _write(self, issued: dict, created: list[str]) -> None:
        layout, request = self.layout, self.request
        if "server" in issued:
            created = [*created, *make_private_dirs(layout.server_dir)]
        with AtomicBatch(journal=os.path.join(layout.directory, JOURNAL)) as batch:
            for role, material in issued.items():
                cert_path, key_path = layout.pair_paths(role)
                batch.add(key_path, key_pem(material.key), request.key_mode)
                batch.add(cert_path, cert_pem(material.cert), CERT_MODE)
        if created and self._needs_attribute_pass():
            for directory in created:
                self.module.set_fs_attributes_if_different(self._file_args(directory, None), True)

    # -- absent ---------------------------------------------------------------------------------------
    def absent(self) -> dict:
        check_cert_dir(self.layout, self.uids)
        if self.module.check_mode or not os.path.isdir(self.layout.directory):
            return self._absent()
        with locked_dir(self.layout.directory):
            check_cert_dir(self.layout, self.uids)
            self._heal()
            return self._absent()

    def _absent(self) -> dict:
        layout = self.layout
        cert_exists = os.path.lexists(layout.server_cert)
        key_exists = os.path.lexists(layout.server_key)
        for path in (layout.server_cert, layout.server_key):
            if os.path.isdir(path):
                raise CertsError(f"{path} is a directory, not a file: refusing to remove it")
        before = None
        if cert_exists:
            try:
                cert, _error = parse_cert(read_regular_file(layout.server_cert))
            except (OSError, FileReadError):
                cert = None
            before = describe_cert(cert) if cert is not None else {"file": layout.server_cert}
        plan = plan_absent(layout, cert_exists, key_exists)
        self.diff["before"]["server"] = before
        self.diff["after"]["server"] = None
        if plan.remove and not self.module.check_mode:
            for path in plan.remove:
                remove_file(path)
            # The folder is this module's; leave it if someone put anything else in it.
            with contextlib.suppress(OSError):
                os.rmdir(layout.server_dir)
        return {"changed": plan.changes or bool(self.healed), "issued": [], "reasons": {}, "removed": list(plan.remove)}

    def run(self) -> dict:
        result = self.absent() if self.request.state == "absent" else self.present()
        layout = self.layout
        result.update(
            cert_path=layout.directory,
            ca_cert=layout.ca_cert,
            ca_key=layout.ca_key,
            client_cert=layout.client_cert,
            client_key=layout.client_key,
            server_cert=layout.server_cert,
            server_key=layout.server_key,
        )
        if result.pop("server_kept", False):
            # Nothing on disk for this host: the certificate in use is the one to hand on, its key stays there.
            result.update(server_kept=True, server_cert=cert_pem(self.in_use).decode(), server_key=None)
        elif self.request.state == "present":
            result["server_kept"] = False
        if self.module._diff:
            result["diff"] = self.diff
        return result


def build_request(params: dict) -> Request:
    return _build_request(
        path=params["path"],
        state=params["state"],
        server_name=params["server_name"],
        hostnames=params["hostnames"],
        ip_addresses=params["ip_addresses"],
        key_type=params["key_type"],
        key_size=params["key_size"],
        ca_valid_days=params["ca_valid_days"],
        cert_valid_days=params["cert_valid_days"],
        renew_before_days=params["renew_before_days"],
        rotate_ca=params["rotate_ca"],
        force=params["force"],
        key_mode=params["key_mode"],
        file_args={name: params.get(name) for name in FILE_ARGS},
    )


def parse_in_use(text: str | None):
    """The certificate of ``server_cert_in_use``, parsed; raises CertsError naming the option."""
    if not text:
        return None
    cert, error = parse_cert(text.encode())
    if cert is None:
        raise CertsError(f"server_cert_in_use: {error}")
    return cert


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        add_file_common_args=True,
        required_if=[("state", "absent", ("server_name",))],
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography >= 41.0"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        request = build_request(module.params)
        result = TLSCertsManager(module, request, parse_in_use(module.params["server_cert_in_use"])).run()
    except (CertsError, X509Error, FileReadError, JournalError) as exc:
        result, error = {}, str(exc)  # the user's to fix: a clear message, no traceback
    except OSError as exc:
        # File names in OSError are ours (paths), never key material.
        result, error = {}, f"Cannot write the certificate set to {module.params['path']}: {exc}"
    else:
        error = None
    if error is not None:
        module.fail_json(msg=error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
