"""A local OpenAI-compatible chat server for the reviewer tests (stdlib ``http.server``).

It answers ``POST /v1/chat/completions`` with scripted replies, in order (the last one repeats),
and records every request body so tests can assert what was sent. A reply is a string (the
assistant's content) or a dict ``{"content": ..., "delay": seconds, "status": code}``. Token
counts are computed the way a server would report them, from the messages' content (tiktoken
``cl100k_base``, bundled with litellm), so the usage litellm returns comes from the server, not
from the test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def count_tokens(text: str) -> int:
    """Tokens as litellm's ``token_counter`` counts them for OpenAI models (tiktoken
    ``cl100k_base``, bundled with litellm: no network)."""
    import litellm

    return int(litellm.token_counter(model="gpt-4o", text=text))


class ChatServer:
    def __init__(self, replies: list[Any] | None = None) -> None:
        self.replies: list[Any] = list(replies or [])
        self.requests: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._served = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = server._record(body, dict(self.headers))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if reply.get("delay"):
                    time.sleep(float(reply["delay"]))
                status = int(reply.get("status", 200))
                if status != 200:
                    self._send(status, {"error": {"message": reply.get("content", "failure"),
                                                  "type": "server_error"}})
                    return
                request = json.loads(body or b"{}")
                prompt = "".join(str(m.get("content", "")) for m in request.get("messages", []))
                content = str(reply.get("content", ""))
                tin, tout = count_tokens(prompt), count_tokens(content)
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": request.get("model", "local"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": tin, "completion_tokens": tout,
                              "total_tokens": tin + tout}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _record(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.raw.append(body)
            self.headers.append(headers)
            try:
                self.requests.append(json.loads(body or b"{}"))
            except ValueError:
                self.requests.append({"unparsed": body.decode("utf-8", "replace")})
            if not self.replies:
                reply: Any = ""
            else:
                reply = self.replies[min(self._served, len(self.replies) - 1)]
            self._served += 1
        return reply if isinstance(reply, dict) else {"content": reply}

    def everything_sent(self) -> str:
        """Every request, as bytes decoded, plus its headers: what a leak would show up in."""
        parts = [b.decode("utf-8", "replace") for b in self.raw]
        parts += [json.dumps(h) for h in self.headers]
        return "\n".join(parts)

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def chat_server(replies: list[Any] | None = None) -> Iterator[ChatServer]:
    server = ChatServer(replies).start()
    try:
        yield server
    finally:
        server.stop()
