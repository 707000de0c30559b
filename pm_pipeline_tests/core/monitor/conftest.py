"""Fixtures for notifier tests: a real local HTTP receiver and a real aiosmtpd SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append(json.loads(body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Receiver(ThreadingHTTPServer):
    received: list[dict[str, Any]]
    statuses: list[int]


@contextmanager
def http_receiver(statuses: list[int] | None = None) -> Iterator[_Receiver]:
    """An HTTP server on a free port recording each POSTed JSON body; answers ``statuses`` first."""
    server = _Receiver(("127.0.0.1", 0), _Handler)
    server.received, server.statuses = [], list(statuses or [])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 OK"


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, list[Message]]]:
    """An aiosmtpd server on a free port; yields (port, received messages)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox.messages
    finally:
        controller.stop()


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def receivers() -> object:
    """The receiver factories, as a namespace: http_receiver(statuses), smtp_receiver(), closed_port()."""

    class Receivers:
        http = staticmethod(http_receiver)
        smtp = staticmethod(smtp_receiver)
        closed = staticmethod(closed_port)

    return Receivers
