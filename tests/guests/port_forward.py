# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded local TCP forward into a guest's network namespace, for code that wants a host:port."""

from __future__ import annotations

import contextlib
import socket
import threading

from ansible_collections.dockerhost.azure.azure_emulator.guest import Guest


class PortForward:
    """``127.0.0.1:<ephemeral>`` on the host, each connection relayed byte for byte to a port inside the guest.

    For code that needs a host:port (the collection's probe) where ``Guest.connect`` gives a socket. Bounded:
    each connection's sockets have a timeout, every thread is a daemon, and ``close`` ends them all.
    """

    def __init__(self, guest: Guest, port: int, timeout: float = 30.0) -> None:
        self.guest = guest
        self.port = port
        self.timeout = timeout
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(1.0)
        self.address = self.listener.getsockname()
        self.url = f"tcp://{self.address[0]}:{self.address[1]}"
        self._open: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                client, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = self.guest.connect(self.port)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(self.timeout)
                self._open.append(sock)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> PortForward:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
