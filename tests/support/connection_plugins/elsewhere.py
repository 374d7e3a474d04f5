# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test-only connection that runs commands on this machine but does not call itself ``local``.

To Ansible's action plugins a task over it runs on a managed node, not on the controller: the tests use it
to run modules the way they run on a remote host (temporary directory, payload, interpreter) without SSH.
Enabled with ``ANSIBLE_CONNECTION_PLUGINS=<this directory>`` and ``ansible_connection: elsewhere``.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: elsewhere
    short_description: run on this machine as if it were a managed node (tests only)
    description:
        - The local connection under another transport name.
    author: dockerhost.azure contributors (@dockerhost)
    options:
        become_success_timeout:
            type: int
            default: 10
            description: As for the local connection.
        become_strip_preamble:
            type: bool
            default: true
            description: As for the local connection.
    extends_documentation_fragment:
        - connection_pipelining
"""

from ansible.plugins.connection.local import Connection as LocalConnection


class Connection(LocalConnection):
    transport = "elsewhere"
