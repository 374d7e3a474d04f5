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
    directory = os.path.join(emulator.state_dir, "vms")
    if emulator.vm_backend["backend"] == "guest":
        from .guest_agent import GuestAgent, guest_factory  # noqa: PLC0415 - only the guest backend needs it

        kind, suite = emulator.vm_backend["kind"], emulator.vm_backend["suite"]
        emulator.agent = GuestAgent(directory, guest_factory(kind, suite), kind)
    else:
        emulator.agent = VMAgent(directory)
    compute.register(emulator.arm, emulator.agent, emulator.public_ips, pool)
