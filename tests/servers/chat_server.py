"""A local server speaking OpenAI's chat-completions protocol, written from the API reference
(platform.openai.com/docs/api-reference/chat/create): ``POST {base}/chat/completions`` with a JSON body
(``model``, ``messages`` whose user content is a list of ``text`` and ``image_url`` parts, ``max_tokens``,
``temperature``), ``Authorization: Bearer KEY``; the reply is a ``chat.completion`` object whose
``choices[0].message.content`` holds the text; errors are ``{"error": {"message", "type", "code"}}`` with an HTTP
status. It binds 127.0.0.1 on a free port, runs on a thread, and ``close()`` stops it.

How it answers depends on the requested model: ``letter-a`` says "A"; ``babble`` says something unparseable;
``flaky`` fails with HTTP 500 the first time it sees a prompt and says "B" after; ``slow`` waits ``slow_s``
before saying "A" (for client deadlines).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


class ChatServer:
    """The server; ``url`` is the base URL a client takes (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, key: str = "test-key", slow_s: float = 1.0) -> None:
        self.key, self.slow_s = key, slow_s
        self.requests: list[dict] = []  # what each accepted request carried: model, text, image sizes
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (deadline): nothing to do
                    self.wfile.write(data)

            def _error(self, status: int, kind: str, message: str) -> None:
                self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._error(404, "invalid_request_error", f"unknown path {self.path}")
                if self.headers.get("Authorization") != f"Bearer {server.key}":
                    return self._error(401, "invalid_request_error", "Incorrect API key provided")
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                model, messages = body.get("model"), body.get("messages")
                if not model or not isinstance(messages, list) or not messages:
                    return self._error(400, "invalid_request_error", "model and messages are required")
                parts = messages[-1]["content"]
                text = "".join(p["text"] for p in parts if p["type"] == "text")
                sizes = []
                for p in parts:
                    if p["type"] == "image_url":
                        head, _, data = p["image_url"]["url"].partition(",")
                        if head != "data:image/png;base64":
                            return self._error(400, "invalid_request_error", "image_url must be a PNG data URL")
                        sizes.append(Image.open(io.BytesIO(base64.b64decode(data))).size)
                digest = hashlib.sha256(json.dumps([model, parts]).encode()).hexdigest()
                with server.lock:
                    server.requests.append({"model": model, "text": text, "images": sizes,
                                            "max_tokens": body.get("max_tokens")})
                    first = digest not in server.seen
                    server.seen.add(digest)
                if model == "flaky" and first:
                    return self._error(500, "server_error", "The server had an error processing your request")
                if model == "slow":
                    time.sleep(server.slow_s)
                reply = {"letter-a": "A", "babble": "Hard to say, maybe the first?", "flaky": "B",
                         "slow": "A"}.get(model, "A")
                self._send(200, {
                    "id": "chatcmpl-" + digest[:12], "object": "chat.completion", "created": int(time.time()),
                    "model": model, "system_fingerprint": None,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply, "refusal": None},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 1,
                              "total_tokens": len(text.split()) + 1}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
