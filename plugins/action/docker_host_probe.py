# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockerhost.azure.docker_host_probe: probe from the controller without starting a module.

Most probes run on the controller (``delegate_to: localhost``, or a play on localhost) and check a Docker
host elsewhere. Starting a module for that costs far more than the probe: a temporary directory, the
module's payload, a new Python interpreter, Ansible's module imports, and the clean-up, for a few
milliseconds of TLS and three GETs. When the task runs on the controller exactly as the module would
there, this plugin validates the options with the module's own argument spec and runs the same probe
(``module_utils/_docker_probe.py``) in the controller's process.

"Exactly as the module would there" means: a local connection (the module would run on this machine),
no become (the module would run as another user, with that user's files and home), no ``async`` (the
module would run in the background), and no ``environment`` keyword (the module would see variables this
process has not got). In every other case the module runs as usual, on the managed node.
"""

from __future__ import annotations

import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_probe import (
    REQUIRED_TOGETHER,
    argument_spec,
    has_environment,
    run_probe,
)

try:  # ansible-core >= 2.19: the encoder that turns task arguments into what a module receives
    from ansible.module_utils.common.json import Direction, get_module_encoder

    _TO_MODULE = get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
except ImportError:  # older ansible-core: the same job, vaulted values decrypted
    from ansible.module_utils.common.json import AnsibleJSONEncoder

    def _TO_MODULE(**kwargs):  # used as json.dumps' cls
        return AnsibleJSONEncoder(vault_to_text=True, **kwargs)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # the probe only reads
    _supports_async = True  # the module runs in the background; never the in-process probe

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # unused since Ansible 2.5
        if self._runs_on_controller():
            result.update(self._probe_here())
        else:
            result.update(self._run_module(task_vars))
        return result

    def _runs_on_controller(self) -> bool:
        if self._connection.transport != "local" or self._play_context.become or self._task.async_val:
            return False
        return not has_environment(self._task.environment)

    def _probe_here(self) -> dict:
        validator = ArgumentSpecValidator(argument_spec(), required_together=REQUIRED_TOGETHER)
        # The arguments as the module would receive them: plain JSON values, vaulted ones decrypted.
        args = json.loads(json.dumps(self._task.args, cls=_TO_MODULE))
        validated = validator.validate(args)
        params = validated.validated_parameters
        if validated.error_messages:
            # The words AnsibleModule uses, so a bad option reads the same on either path.
            msg = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                msg = f"Unsupported parameters for ({self._task.action}) module: {msg}"
            return {"failed": True, "msg": msg, "changed": False, "invocation": {"module_args": params}}
        outcome, warnings = run_probe(params, os.environ)
        if warnings:
            outcome["warnings"] = warnings
        outcome["invocation"] = {"module_args": params}
        return outcome

    def _run_module(self, task_vars) -> dict:
        # The temporary directory goes in cleanup(), which the task executor calls after run() (the
        # documented hook; ActionBase's removes it unless the task is async).
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        return self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
