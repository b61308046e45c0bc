"""A loopback TCP proxy the test controls: drop every connection, go silent, or point elsewhere."""

from __future__ import annotations

import select
import socket
import struct
import threading


class TCPProxy:
    """Forwards 127.0.0.1:<port> to an upstream port, one thread per connection.

    ``drop_all()`` resets every open connection (a server crash or a network cut, seen by
    the client mid-stream); ``silent = True`` keeps connections open but stops forwarding
    (a half-open connection: no bytes, no FIN), ``mute_existing()`` does that to the
    connections open now only; ``upstream_port`` may be changed at any time.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.silent = False
        self._muted: set[socket.socket] = set()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._conns: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.append((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        pair = {client: upstream, upstream: client}
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select(list(pair), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.silent or client in self._muted:
                        continue  # swallow: the peer sees a live but mute connection
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            self._reset(client, upstream)

    @staticmethod
    def _reset(*socks: socket.socket) -> None:
        for sock in socks:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def mute_existing(self) -> None:
        """Silence the connections open now; new ones forward normally."""
        with self._lock:
            self._muted.update(client for client, _ in self._conns)

    def drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for client, upstream in conns:
            self._reset(client, upstream)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        self.drop_all()
