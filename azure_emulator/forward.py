# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One byte-for-byte forwarder: a listening socket (TCP or Unix) whose every connection is relayed to a socket
that ``connect()`` opens (a TCP address, a port inside a guest through ``Guest.connect``, ...).

Used by the guest backend (a guest's daemon port on the VM's public IP), tests/guests (a ``host:port`` for code
that wants one) and the probe tests (a Unix socket in front of a TCP daemon). Bounded: each connection's
sockets have a timeout, every thread is a daemon thread, a connection's sockets are closed once both
directions ended, and :meth:`Forward.close` ends the listener and every open connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable

__all__ = ["Forward", "tcp_target"]


def tcp_target(address: tuple[str, int], timeout: float = 10.0) -> Callable[[], socket.socket]:
    """``connect`` for a plain TCP address."""
    return lambda: socket.create_connection(address, timeout=timeout)


class Forward:
    """Relays every connection accepted on ``listener`` to ``connect()``; build it with :meth:`tcp` or :meth:`unix`.

    A connection whose ``connect()`` fails (the port is closed in the guest, the guest is rebooting) is closed at
    once, which the client sees as a reset: what it would see from a VM whose port is closed.
    """

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket], timeout: float = 300.0) -> None:
        self.listener = listener
        self.connect = connect
        self.timeout = timeout
        self.listener.settimeout(0.5)
        self.address = listener.getsockname()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"forward-{self.address}")
        self._thread.start()

    @classmethod
    def tcp(
        cls, connect: Callable[[], socket.socket], address: tuple[str, int] = ("127.0.0.1", 0), **kwargs
    ) -> Forward:
        """Listen on TCP ``address`` (port 0: an ephemeral one, see :attr:`url`)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        return cls(listener, connect, **kwargs)

    @classmethod
    def unix(cls, connect: Callable[[], socket.socket], path: str, **kwargs) -> Forward:
        """Listen on the Unix socket ``path`` (removed again by :meth:`close`)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        return cls(listener, connect, **kwargs)

    @property
    def url(self) -> str:
        """``tcp://host:port`` or ``unix://path`` of the listening side."""
        if isinstance(self.address, tuple):
            return f"tcp://{self.address[0]}:{self.address[1]}"
        return f"unix://{self.address}"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                client, _peer = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = self.connect()
        except OSError:
            client.close()
            return
        with self._lock:
            if self._closed.is_set():
                client.close()
                upstream.close()
                return
            self._open.update((client, upstream))
        for sock in (client, upstream):
            sock.settimeout(self.timeout)
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join(self.timeout)
        with self._lock:
            self._open.difference_update((client, upstream))
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        """Copy until EOF, then pass the EOF on (a half-close: the other direction may still be talking)."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop listening and end every open connection."""
        self._closed.set()
        path = None if isinstance(self.address, tuple) else self.address
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def __enter__(self) -> Forward:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
