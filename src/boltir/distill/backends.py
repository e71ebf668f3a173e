"""Chat back-ends for list-wise LLM teachers: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM,
llama.cpp server, hosted APIs) over plain HTTP, and a local transformers causal LM. Each turns chat messages into
the model's answer text; ``name`` identifies the model for the answer cache."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from boltir.errors import TeacherError


class OpenAIChat:
    """Chat completions over HTTP with a timeout per request, retries with exponential back-off on timeouts,
    connection errors, HTTP 429 and 5xx, and an optional rate limit (requests per minute). The API key is read
    from the environment variable ``api_key_env`` (never stored in configs, runs or manifests)."""

    def __init__(
        self,
        model: str,
        base_url: str = "http://localhost:8000/v1",
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        requests_per_minute: float | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
    ):
        self.model, self.base_url = model, base_url.rstrip("/")
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.min_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.temperature, self.max_tokens = temperature, max_tokens
        self._last = 0.0
        self.name = f"openai:{model}@{self.base_url}"

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The model's answer to a chat.

        Raises:
            TeacherError: the server answered with an error or no answer.
        """
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            wait = self._last + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()
            try:
                data = self._post(body)
                return str(data["choices"][0]["message"]["content"])
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}: {e.read()[:200].decode('utf-8', 'replace')}"
                if e.code != 429 and e.code < 500:
                    raise TeacherError(f"{self.base_url}/chat/completions answered {last}") from e
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except (KeyError, IndexError, TypeError, json.JSONDecodeError) as e:
                last = f"unexpected answer format ({type(e).__name__}: {e})"
            if attempt < self.max_retries:
                time.sleep(self.backoff * 2**attempt)
        raise TeacherError(f"{self.base_url}/chat/completions failed {self.max_retries + 1} times; last: {last}")


class TransformersChat:
    """A local causal LM (folder or Hub name) with greedy decoding. Uses the tokenizer's chat template when it
    has one, else the messages as plain text; returns only the newly generated text."""

    def __init__(self, model: str, max_new_tokens: int = 256, device: str | None = None, dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).eval()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.max_new_tokens = max_new_tokens
        self.name = f"hf:{model}"

    def prompt(self, messages: list[dict[str, str]]) -> str:
        """The chat as one prompt: the tokenizer's chat template when it has one, else the turns joined."""
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def complete(self, messages: list[dict[str, str]]) -> str:
        """The model's greedy answer to a chat (at most ``max_new_tokens`` tokens)."""
        import torch

        enc = self.tokenizer(self.prompt(messages), return_tensors="pt", add_special_tokens=False).to(self.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        return str(self.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))
