"""A vision-language model behind an OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp's
server, OpenAI itself), through the real ``openai`` client (``pip install 'crossview-harness[probe]'``).

Each item is one user message: the prompt text, then every image as a PNG data URL (``image_url`` content
parts). Calls made here, checked against openai/openai-python (HEAD e43b4224, version 3.3.1; the shared venv has
3.54.0, whose lines are given second where they moved):

- ``openai.OpenAI(api_key=, base_url=, timeout=, max_retries=)``: src/openai/_client.py:152-166 (3.54.0:
  285-299); the client retries 408, 409, 429 and >= 500 itself (src/openai/_base_client.py:815-854; 3.54.0:
  922-961), so ``max_retries=0``: retries are the runner's and every attempt is counted;
- ``client.chat.completions.create(model=, messages=, max_tokens=, temperature=)``:
  src/openai/resources/chat/completions/completions.py:252, 264, 284 (3.54.0: 330-351), POST /chat/completions
  (line 1297; 3.54.0: 1612). ``max_tokens`` is deprecated there in favour of ``max_completion_tokens`` (line 379;
  3.54.0: 529) and OpenAI's reasoning models reject it, but it is the field Ollama and llama.cpp's server read
  (docs.ollama.com/api/openai-compatibility lists ``max_tokens`` only), so it is what is sent;
- image parts ``{"type": "image_url", "image_url": {"url": ..., "detail": ...}}``, ``detail`` one of
  auto/low/high (3.54.0 adds original): src/openai/types/chat/chat_completion_content_part_image_param.py:11-37;
- the reply ``completion.choices[0].message.content`` (content may be null):
  src/openai/types/chat/chat_completion.py:39-57, 200 and chat_completion_message.py:60;
- failures ``openai.APIError`` (and its subclasses APIStatusError, APIConnectionError, APITimeoutError):
  src/openai/_exceptions.py:46-110 (3.54.0: 46-111). A reply with no choices at all is not the model's answer
  but a broken endpoint: it raises ``EmptyCompletion`` (counted as a failed attempt), never an unparseable reply.
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
DETAILS = ("auto", "low", "high", "original")  # chat_completion_content_part_image_param.py:14 (3.54.0)


class EmptyCompletion(CrossviewError):
    """The endpoint answered 200 with no choices: a failed attempt, not an unparseable reply."""


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
        if detail not in DETAILS:
            raise CrossviewError(f"answerer {name!r}: detail {detail!r} is not one of {', '.join(DETAILS)}")
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
        # 4xx answers the client itself never retries (src/openai/_base_client.py:922-961, 3.54.0: only 408, 409,
        # 429, >= 5xx are): a wrong key or model fails every attempt alike, so the runner does not retry them
        self.permanent: tuple[type[Exception], ...] = (
            openai.BadRequestError, openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError,
            openai.UnprocessableEntityError)
        self._client = openai.OpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0)

    def fingerprint(self) -> str:
        return (f"openai:{self.base_url}:{self.model}:{self.max_tokens}:{self.temperature}:{self.system}:"
                f"{self.detail}")

    def answer(self, item: ProbeItem) -> str:
        """The model's reply text ('' when it sent no content: counted unparseable); raises the client's APIError
        on failure and ``EmptyCompletion`` when the endpoint sent no choices."""
        completion = self._client.chat.completions.create(
            model=self.model, messages=messages_for(item, self.system, self.detail), max_tokens=self.max_tokens,
            temperature=self.temperature)
        if not getattr(completion, "choices", None):
            raise EmptyCompletion(f"{self.base_url} answered model {self.model!r} with no choices")
        return completion.choices[0].message.content or ""

    def close(self) -> None:
        self._client.close()
