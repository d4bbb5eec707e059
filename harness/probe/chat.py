"""A vision-language model behind an OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp's
server, OpenAI itself), through the real ``openai`` client (``pip install 'crossview-harness[probe]'``).

Each item is one user message: the prompt text, then every image as a PNG data URL (``image_url`` content
parts). Calls made here, checked against openai/openai-python (HEAD e43b4224):

- ``openai.OpenAI(api_key=, base_url=, timeout=, max_retries=)``: src/openai/_client.py:152-166 (retries are the
  runner's, so the client's own are off and every attempt is counted);
- ``client.chat.completions.create(model=, messages=, max_tokens=, temperature=)``:
  src/openai/resources/chat/completions/completions.py:252, 264, 284 (POST /chat/completions, line 1297);
- image parts ``{"type": "image_url", "image_url": {"url": ..., "detail": ...}}``:
  src/openai/types/chat/chat_completion_content_part_image_param.py:11-37;
- the reply ``completion.choices[0].message.content``: src/openai/types/chat/chat_completion.py:39-57, 200;
- failures ``openai.APIError`` (and its subclasses APITimeoutError, APIConnectionError, APIStatusError):
  src/openai/_exceptions.py:46-110.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from PIL import Image

from harness.errors import CrossviewError, require
from harness.probe.items import ProbeItem

INSTALL = "pip install 'crossview-harness[probe]' (the openai client)"


def png_data_url(image: Any) -> str:
    """An RGB uint8 array as a ``data:image/png;base64,...`` URL."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def messages_for(item: ProbeItem, system: str | None = None, detail: str = "auto") -> list[dict[str, Any]]:
    """The chat messages that ask ``item``: an optional system message, then text and images in one user turn."""
    content: list[dict[str, Any]] = [{"type": "text", "text": item.prompt()}]
    content += [{"type": "image_url", "image_url": {"url": png_data_url(img), "detail": detail}}
                for img in item.images]
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]


class ChatAnswerer:
    """Asks a model behind ``base_url`` (e.g. http://127.0.0.1:8000/v1) each probe item, ``concurrency`` at once,
    each request bounded by ``timeout_s``; the API key comes from the environment variable ``api_key_env``."""

    def __init__(self, name: str, model: str, base_url: str, api_key_env: str | None = None,
                 concurrency: int = 4, timeout_s: float = 60.0, max_tokens: int = 16, temperature: float = 0.0,
                 system: str | None = None, detail: str = "auto") -> None:
        openai = require("openai", f"answerer {name!r} (kind openai)", INSTALL)
        if not str(base_url).startswith(("http://", "https://")):
            raise CrossviewError(f"answerer {name!r}: base_url {base_url!r} must start with http:// or https://")
        if int(concurrency) < 1 or float(timeout_s) <= 0:
            raise CrossviewError(f"answerer {name!r}: concurrency must be >= 1 and timeout_s > 0")
        key = "not-needed"  # local servers ignore it; the client insists on one
        if api_key_env:
            key = os.environ.get(api_key_env, "")
            if not key:
                raise CrossviewError(f"answerer {name!r}: environment variable {api_key_env} (api_key_env) is "
                                     "empty: export the endpoint's API key in it")
        self.name, self.model, self.base_url = name, model, str(base_url)
        self.concurrency, self.timeout_s = int(concurrency), float(timeout_s)
        self.max_tokens, self.temperature, self.system, self.detail = int(max_tokens), float(temperature), system, \
            detail
        self.errors = (openai.APIError,)
        self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0)

    def fingerprint(self) -> str:
        return (f"openai:{self.base_url}:{self.model}:{self.max_tokens}:{self.temperature}:{self.system}:"
                f"{self.detail}")

    def answer(self, item: ProbeItem) -> str:
        """The model's reply text ('' when it sent no content); raises the client's APIError on failure."""
        completion = self._client.chat.completions.create(
            model=self.model, messages=messages_for(item, self.system, self.detail), max_tokens=self.max_tokens,
            temperature=self.temperature)
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""

    def close(self) -> None:
        self._client.close()
