# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe's retry loop: pauses between attempts, API versions."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import DockerAPIError
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_retry import backoff_delays, parse_api_version

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
