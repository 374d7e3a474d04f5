# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``patch_module_args``: run a module's ``main()`` in-process with these arguments, on every ansible-core.

ansible-core 2.19 ships it as ``ansible.module_utils.testing.patch_module_args``; older releases (the
collection supports ansible-core 2.16 and later) read the arguments from ``basic._ANSIBLE_ARGS``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from unittest import mock

__all__ = ["patch_module_args"]

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19

    @contextlib.contextmanager
    def patch_module_args(args: dict | None = None) -> Iterator[None]:
        from ansible.module_utils import basic  # noqa: PLC0415 - only where the new helper is missing

        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield
