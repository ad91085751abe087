"""HTTP plumbing of the fake server: a threaded HTTP/1.1 keep-alive server on loopback.

It knows nothing about OpenAI: each request goes to an ``App`` callable, which answers with an
``Answer``, or asks to ``Drop`` the connection or ``Hold`` the request unanswered.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Action", "Answer", "App", "Drop", "Hold", "IncomingRequest", "LoopbackServer"]


@dataclass(frozen=True)
class IncomingRequest:
    """A raw request: method, target (path and query), lower-cased headers, body bytes."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    """Send this status, body and headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class Hold:
    """Answer nothing until the client disconnects, ``seconds`` pass or the server stops;
    then close the connection."""

    seconds: float


Action = Answer | Drop | Hold
App = Callable[[IncomingRequest], Action]


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI"
    sys_version = ""
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the fake keeps its own request log)."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _BadRequest("bad chunk size") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest("bad Content-Length") from None
        data = self.rfile.read(size)
        if len(data) != size:
            raise _BadRequest("truncated body")
        return data

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            message = f'{{"error": {{"message": "Malformed HTTP request: {exc}", "type": '
            message += '"invalid_request_error", "param": null, "code": null}}'
            self._send(Answer(400, message.encode()))
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        action = self.server.app(IncomingRequest(self.command, self.path, headers, body))
        if isinstance(action, Answer):
            self._send(action)
            return
        if isinstance(action, Hold):
            self._hold(action.seconds)
        self._drop()

    def _send(self, answer: Answer) -> None:
        reason = self.responses.get(answer.status, ("",))[0]
        lines = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Date: {self.date_time_string()}",
            "Server: FakeOpenAI",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in answer.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + answer.body)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _hold(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with selectors.DefaultSelector() as selector:
            selector.register(self.connection, selectors.EVENT_READ)
            while not self.server.stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                if selector.select(min(0.05, remaining)):
                    return  # the client closed (or sent more): stop holding


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # never keep the interpreter alive; stop() still joins them
    block_on_close = True
    request_queue_size = 1024  # many clients connect at once; the default 5 drops SYNs

    def __init__(
        self, address: tuple[str, int], app: App, on_error: Callable[[BaseException], None]
    ) -> None:
        self.app = app
        self.on_error = on_error
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            if self.stopping.is_set():
                _shutdown(connection)
            else:
                self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            for connection in list(self._connections):
                _shutdown(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is None or isinstance(error, OSError) or self.stopping.is_set():
            return  # clients going away mid-answer are normal here
        self.on_error(error)


def _shutdown(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class LoopbackServer:
    """Runs an ``App`` behind a threaded HTTP/1.1 server (one thread per connection).

    ``start`` binds ``host:port`` (port 0: a free one) and serves from a background thread;
    ``stop`` refuses new connections, wakes every waiting handler, closes every client
    connection and joins all threads, so nothing is left running.
    """

    def __init__(
        self, app: App, *, host: str, port: int, on_error: Callable[[BaseException], None]
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._on_error = on_error
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; only while running."""
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._httpd is not None

    def start(self) -> None:
        """Bind and serve in a background thread."""
        if self._httpd is not None:
            return
        httpd = _HTTPServer((self._host, self._port), self._app, self._on_error)
        self.stopping = httpd.stopping
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # how fast stop() returns
            name=f"FakeOpenAI-{httpd.server_port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread (idempotent)."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = None
        self._thread = None
