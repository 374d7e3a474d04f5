# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wire the resource providers (and the VM agent) into an :class:`~.server.Emulator`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import compute, network
from .network import AddressPool
from .vmagent import VMAgent

if TYPE_CHECKING:
    from .server import Emulator

__all__ = ["register"]


def register(emulator: Emulator) -> None:
    pool = AddressPool()
    emulator.address_pool = pool
    emulator.public_ips = network.register(emulator.arm, pool)
    emulator.agent = VMAgent(os.path.join(emulator.state_dir, "vms"))
    compute.register(emulator.arm, emulator.agent, emulator.public_ips, pool)
