"""A small, deterministic OpenAI-compatible chat server (plus a few plain REST routes) on a free
local port, recording every request so tests can check what was sent."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """`/v1/chat/completions` answers `reply` (default: a sentence counting the prompt's words)
    with usage = word counts, or `llm_status` with an OpenAI-style error, or hangs if `hang`.
    REST routes: GET /http/json, /http/text, /http/big, /http/hang; any method on
    /http/status/<code>; POST /http/echo returns what it got."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.reply: str | None = None
        self.llm_status = 200
        self.hang = False
        self.release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        # A short poll keeps shutdown (which waits for one poll) from slowing every test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def chat(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.llm_status != 200:
            return self.llm_status, {"error": {"message": f"fake error {self.llm_status}"}}
        words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        text = self.reply if self.reply is not None else f"counted {words} words"
        return 200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": words,
                "completion_tokens": len(text.split()),
                "total_tokens": words + len(text.split()),
            },
        }


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorded = Recorded(self.command, parts.path, parse_qs(parts.query), headers, body)
            server.requests.append(recorded)
            if parts.path == "/v1/chat/completions":
                if server.hang:
                    server.release.wait(10)
                    return
                self._json(*server.chat(json.loads(body)))
            elif parts.path == "/http/json":
                self._json(200, {"hello": "world", "query": recorded.query})
            elif parts.path == "/http/text":
                self._send(200, b"plain words", "text/plain")
            elif parts.path == "/http/big":
                self._send(200, b"x" * 5000, "text/plain")
            elif parts.path == "/http/hang":
                server.release.wait(10)
            elif parts.path.startswith("/http/status/"):
                status = int(parts.path.rsplit("/", 1)[1])
                self._json(status, {"status": status})
            elif parts.path == "/http/echo":
                self._json(200, {"method": self.command, "json": json.loads(body or b"null")})
            else:
                self._json(404, {"error": {"message": f"no route {parts.path}"}})

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
