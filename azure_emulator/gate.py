# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NSG enforcement (opt-in): a TCP gate on the VM's public address that lets a connection through to the daemon
only if the VM's network security groups allow it, as Azure's fabric would.

Every connection comes from this machine, so the gate judges it as coming from the emulator's configured
``client_address`` (a public address, by default 203.0.113.10). A denied connection is held open without an
answer and then closed, which is what a client sees when Azure drops its packets (a timeout, not a refusal).
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import threading
from collections.abc import Callable

__all__ = ["Gate", "rule_allows"]

HOLD_SECONDS = 120.0
_ANY = {"*", "any", "internet"}


def _prefixes(props: dict, side: str) -> list[str]:
    single = props.get(f"{side}AddressPrefix")
    return [single] if single else list(props.get(f"{side}AddressPrefixes") or [])


def _ports(props: dict, side: str) -> list[str]:
    single = props.get(f"{side}PortRange")
    return [str(single)] if single is not None else [str(p) for p in props.get(f"{side}PortRanges") or []]


def _address_matches(prefix: str, address: str, vnet: list[str]) -> bool:
    lowered = prefix.lower()
    if lowered in _ANY:
        return True
    if lowered == "virtualnetwork":
        return any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in vnet)
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False  # another service tag (AzureLoadBalancer, Storage, ...): never this client


def _port_matches(text: str, port: int) -> bool:
    if text == "*":
        return True
    low, _sep, high = text.partition("-")
    return int(low) <= port <= int(high or low)


def rule_allows(rules: list[dict], *, source: str, destination: str, port: int, vnet: list[str]) -> bool:
    """Inbound TCP ``source`` -> ``destination:port`` through one NSG: the first matching rule by priority decides."""
    for props in sorted((r for r in rules if r["direction"] == "Inbound"), key=lambda r: r["priority"]):
        if props["protocol"] not in ("Tcp", "*"):
            continue
        if not any(_address_matches(p, source, []) for p in _prefixes(props, "source")):
            continue
        if not any(_port_matches(p, 50000) for p in _ports(props, "source")):  # clients use ephemeral ports
            continue
        if not any(_address_matches(p, destination, vnet) for p in _prefixes(props, "destination")):
            continue
        if any(_port_matches(p, port) for p in _ports(props, "destination")):
            return props["access"] == "Allow"
    return False


class Gate:
    """Listens on ``public``; forwards each connection ``allow()`` admits to ``backend``."""

    def __init__(self, public: tuple[str, int], backend: tuple[str, int], allow: Callable[[], bool]) -> None:
        self.public = public
        self.backend = backend
        self.allow = allow
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(public)
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True, name=f"gate-{public[0]}:{public[1]}")
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _addr = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                allowed = self.allow()
            except Exception:  # a VM being deleted: nothing to let through
                allowed = False
            if not allowed:
                client.settimeout(HOLD_SECONDS)
                with contextlib.suppress(OSError):
                    while not self._stop.is_set() and client.recv(4096):
                        pass
                return
            try:
                backend = socket.create_connection(self.backend, timeout=10)
            except OSError:
                return
            with backend:
                self._pump(client, backend)

    def _pump(self, left: socket.socket, right: socket.socket) -> None:
        pair = {left: right, right: left}
        while not self._stop.is_set():
            ready, _w, _x = select.select(list(pair), [], [], 0.5)
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                pair[sock].sendall(data)
