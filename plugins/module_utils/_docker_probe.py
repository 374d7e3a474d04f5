# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.

"""The docker_host_probe task, once: its options, and the run from validated options to a result.

Two callers share it, so both give the same answer word for word: the module (on the managed node, or on
the controller through a local connection) and its action plugin, which runs the probe inside the
controller's Ansible process when the task runs on the controller anyway.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    DOCKER_CONNECTION_ARGUMENT_SPEC,
    DOCKER_CONNECTION_REQUIRED_TOGETHER,
    MAX_WAIT_TIMEOUT,
    DockerAPIError,
    check_seconds,
    environment_warnings,
    parse_docker_host,
    resolve_connection,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_retry import parse_api_version, probe_daemon

__all__ = ["REQUIRED_TOGETHER", "argument_spec", "has_environment", "run_probe"]

REQUIRED_TOGETHER = DOCKER_CONNECTION_REQUIRED_TOGETHER


def argument_spec() -> dict:
    """The shared Docker connection options plus the probe's own."""
    spec = dict(DOCKER_CONNECTION_ARGUMENT_SPEC)
    spec.update(
        wait_timeout={"type": "float", "default": 0.0},
        min_api_version={"type": "str"},
    )
    return spec


def _shown_host(value: str | None) -> str | None:
    try:
        return parse_docker_host(value).url
    except DockerAPIError:
        return value


def run_probe(params: Mapping, environ: Mapping[str, str]) -> tuple[dict, list[str]]:
    """Probe as ``params`` (validated against ``argument_spec()``) ask; ``environ`` is the task's environment.

    Returns the task result and the warnings for the user. A failure is a result with ``failed: true``,
    ``msg`` and ``error_kind``; nothing is raised for anything the daemon or the network does.
    """
    warnings = environment_warnings(environ)
    try:
        # Every option is checked before any file is read or anything contacted.
        minimum = parse_api_version(params.get("min_api_version"))
        wait_timeout = check_seconds(
            "wait_timeout", params.get("wait_timeout"), default=0.0, maximum=MAX_WAIT_TIMEOUT, allow_zero=True
        )
        settings = resolve_connection(params)
        if settings.uses_tls and not settings.tls_verify:
            warnings.append(
                f"tls_verify is false: the certificate of {settings.endpoint.url} is not checked, so anyone on "
                "the network path could pose as the daemon and receive this client's commands."
            )
        result = probe_daemon(settings, wait_timeout=wait_timeout, min_api_version=minimum)
    except DockerAPIError as exc:
        failure = {
            "failed": True,
            "msg": exc.message,
            "changed": False,
            "error_kind": exc.kind,
            "docker_host": _shown_host(params.get("docker_host")),
            "attempts": exc.attempts,
            "elapsed": exc.elapsed,
            "server_cert": exc.server_cert,
        }
        return failure, warnings
    return {"changed": False, **result.as_dict()}, warnings


def has_environment(environment) -> bool:
    """For the action plugin: whether the ``environment`` keyword (merged from task, block and play) sets anything.

    Read from the public ``Task.environment`` attribute without templating it: an entry that is still a
    template (``"{{ proxy_env }}"``) counts as setting something, so such a task runs the module, which
    always gives the right answer.
    """
    entries = environment if isinstance(environment, list) else [environment]
    return any(entry for entry in entries)
