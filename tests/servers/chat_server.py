"""A local server speaking OpenAI's chat-completions protocol, written from the API reference
(platform.openai.com/docs/api-reference/chat/create): ``POST {base}/chat/completions`` with a JSON body
(``model``, ``messages`` whose user content is a list of ``text`` and ``image_url`` parts, ``max_tokens``,
``temperature``), ``Authorization: Bearer KEY``; the reply is a ``chat.completion`` object whose
``choices[0].message.content`` holds the text; errors are ``{"error": {"message", "type", "code"}}`` with an HTTP
status. It binds 127.0.0.1 on a free port, runs on a thread, and ``close()`` stops it.

Requests are checked as the reference and openai-python's request types define them, not as our client happens
to send them: ``content`` is a string or a list of parts (types/chat/chat_completion_content_part_param.py),
an image part's ``url`` is an http(s) URL or a base64 data URL of an image and its ``detail`` one of
auto/low/high/original (chat_completion_content_part_image_param.py:11-40, openai 3.54.0); a malformed body is a
400 ``invalid_request_error``, never a dropped connection.

How it answers depends on the requested model: ``letter-a`` says "A"; ``babble`` says something unparseable;
``flaky`` fails with HTTP 500 the first time it sees a prompt and says "B" after; ``slow`` waits ``slow_s``
before saying "A" (for client deadlines); ``null-content`` sends ``content: null`` with ``finish_reason
"length"`` (what vLLM sends when a reasoning model spends max_tokens thinking); ``no-choices`` sends a
completion with an empty ``choices`` list (a broken endpoint).
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

DETAILS = ("auto", "low", "high", "original")


def check_messages(messages: object) -> tuple[str, list[tuple[int, int]]] | str:
    """(text of the last message, image sizes) of a valid ``messages`` list, else what is wrong with it."""
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    text, sizes = "", []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            return f"messages[{i}].role is missing or unknown"
        content = m.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(parts, list):
            return f"messages[{i}].content must be a string or an array of content parts"
        text = ""
        for j, p in enumerate(parts):
            where = f"messages[{i}].content[{j}]"
            if not isinstance(p, dict) or p.get("type") not in ("text", "image_url"):
                return f"{where}.type must be text or image_url"
            if p["type"] == "text":
                if not isinstance(p.get("text"), str):
                    return f"{where}.text must be a string"
                text += p["text"]
                continue
            image = p.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or image.get("detail", "auto") not in DETAILS:
                return f"{where}.image_url needs a url and a detail among {', '.join(DETAILS)}"
            head, _, data = url.partition(",")
            if not (head.startswith("data:image/") and head.endswith(";base64")):
                return f"{where}.image_url.url must be a base64 image data URL here (no network)"
            try:
                sizes.append(Image.open(io.BytesIO(base64.b64decode(data, validate=True))).size)
            except Exception:
                return f"{where}.image_url.url does not decode to an image"
    return text, sizes


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
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                except ValueError:
                    return self._error(400, "invalid_request_error", "the request body is not valid JSON")
                if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
                    return self._error(400, "invalid_request_error", "model is required")
                model, checked = body["model"], check_messages(body.get("messages"))
                if isinstance(checked, str):
                    return self._error(400, "invalid_request_error", checked)
                text, sizes = checked
                parts = body["messages"][-1]["content"]
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
                choices = [{"index": 0, "logprobs": None, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": None, "refusal": None}}]
                if model == "no-choices":
                    choices = []
                elif model == "null-content":
                    choices[0]["finish_reason"] = "length"
                else:
                    replies = {"letter-a": "A", "babble": "Hard to say, maybe the first?", "flaky": "B", "slow": "A"}
                    choices[0]["message"]["content"] = replies.get(model, "A")
                self._send(200, {
                    "id": "chatcmpl-" + digest[:12], "object": "chat.completion", "created": int(time.time()),
                    "model": model, "system_fingerprint": None, "choices": choices,
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
