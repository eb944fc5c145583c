"""A tiny loopback TCP proxy for failure tests: drop answers, inject answers, go down and up.

It forwards bytes between a client and an upstream port with two threads per
connection. Tests use it in front of the HTTP server (to lose a response after
the server has acted on the request, or to answer a request with a canned 429)
and in front of PostgreSQL (to make the database unreachable and back).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

ACCEPT_POLL_SECONDS = 0.1


def http_response(status: int, reason: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 response that closes its connection."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_http_request(connection: socket.socket) -> bytes:
    """Read one HTTP request (headers and a Content-Length body) from a connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class TcpProxy:
    """Forward 127.0.0.1:<port> to an upstream port, with failures on demand."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.drop_responses = 0
        self.canned: list[bytes] = []
        self.canned_served = 0
        self.silent = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._running = threading.Event()

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        """Listen (on the same port as before, after a stop) and forward connections."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._running.set()
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection: the upstream looks unreachable."""
        self._running.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        if self.silent:
            return  # accept, read nothing, answer nothing: until stop() cuts it
        with self._lock:
            canned = self.canned.pop(0) if self.canned else None
        if canned is not None:
            try:
                read_http_request(client)
                client.sendall(canned)
                with self._lock:
                    self.canned_served += 1
            except OSError:
                pass
            _close(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        self._track(upstream)
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, True)

    def _pump(self, source: socket.socket, target: socket.socket, answers: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if answers:
                    with self._lock:
                        drop = self.drop_responses > 0
                        if drop:
                            self.drop_responses -= 1
                    if drop:
                        break
                target.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
