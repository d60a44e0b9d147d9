"""A small deterministic in-process provider for the eval tests.

chat: a canned answer per last user message (settings["answers"]), else an echo; a judge
prompt gets a JSON verdict. embed: hashed character trigrams, so similar texts are close.
Every chat request is recorded, so tests can count generations.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

from ftspec.errors import ProviderError
from ftspec.providers.base import ChatRequest, ChatResult, Provider

LOG: list[ChatRequest] = []
EMBED_LOG: list[str] = []


class EvalFakeProvider(Provider):
    name = "evalfake"

    def __init__(self, settings, *, project_root: Path | None = None) -> None:
        super().__init__(settings, project_root=project_root)
        self.requests: list[ChatRequest] = []

    def chat(self, request: ChatRequest) -> ChatResult:
        LOG.append(request)
        self.requests.append(request)
        text = request.prompt if request.prompt is not None else request.messages[-1]["content"]
        if request.messages and "You grade answers" in request.messages[0]["content"]:
            return ChatResult([self._verdict(text)], 10, 5, 0.01, ["stop"])
        answers = self.settings.get("answers") or {}
        if text in self.settings.get("fail_on", []):
            raise ProviderError(f"model refused: {text}")
        model_answers = answers.get(request.model, answers)
        key = text
        if request.prompt is not None:  # completion: the prompt's last line, without the separator
            key = text.replace(self.settings.get("separator", "\n\n###\n\n"), "").split("\n")[-1]
        answer = model_answers.get(key, f"echo: {key}")
        choices = [answer if i == 0 else f"{answer} ({i})" for i in range(request.n)]
        if request.prompt is not None:
            choices = [" " + c + " END" for c in choices]
        return ChatResult(choices, len(text.split()), len(answer.split()), 0.05, ["stop"] * request.n)

    @staticmethod
    def _verdict(prompt: str) -> str:
        ideal = re.search(r"Reference answer:\n(.*?)\n\nAnswer to grade:\n(.*)", prompt, re.DOTALL)
        good = ideal and ideal.group(1).strip().lower() in ideal.group(2).lower()
        return json.dumps({"reasoning": "matches the reference" if good else "misses the reference",
                           "score": 0.9 if good else 0.1})

    def embed(self, texts, *, model=None):
        EMBED_LOG.extend(texts)
        return [_vector(t) for t in texts]

    def _unsupported(self, *args, **kwargs):
        raise ProviderError("the eval test provider only generates and embeds")

    upload = find_file = list_files = delete_file = _unsupported
    create_job = find_job = get_job = list_events = cancel_job = _unsupported
    list_models = delete_model = _unsupported


def _vector(text: str, dims: int = 64) -> list[float]:
    vec = [0.0] * dims
    clean = f"  {text.lower()}  "
    for i in range(len(clean) - 2):
        digest = hashlib.md5(clean[i:i + 3].encode()).digest()
        vec[digest[0] % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]
