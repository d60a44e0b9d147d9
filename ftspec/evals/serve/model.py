"""The model a server answers for: the loaded engine, the spec's template and its context length."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftspec.evals.runner import eval_request


@dataclass
class ServedModel:
    id: str  # the model id clients send (the spec's locked model, or --model)
    engine: Any  # ftspec.providers.local.generate.Engine
    template: Any  # ftspec.data.templates.Template of the spec
    context_length: int | None
    created: int
    aliases: tuple[str, ...] = field(default=())  # also accepted as "model" (the spec's name)

    def answers_to(self, name: str) -> bool:
        return name == self.id or name in self.aliases

    def request(self, payload: Any, sampling: dict[str, Any]):
        """Exactly the request ``ftspec eval`` sends for this payload and sampling."""
        return eval_request(self.template, payload, self.id, sampling)

    def completion_prompt(self, prompt: str) -> str:
        """A prompt that already ends with the template's separator is sent as is (what a client
        of a legacy completion fine-tune sends); any other is rendered by the template, as evals do."""
        from ftspec.data.templates import TemplateError
        from ftspec.evals.serve.protocol import bad

        separator = getattr(self.template, "separator", "")
        if separator and prompt.endswith(separator):
            return prompt
        try:
            return self.template.prompt_for(prompt=prompt)
        except TemplateError as exc:
            raise bad("prompt", str(exc)) from None

    def count_prompt(self, request) -> int:
        """Prompt tokens exactly as generation tokenises them (BOS included)."""
        text = self.engine.prompt_text(request)
        return len(self.engine.tokenizer(text, add_special_tokens=True)["input_ids"])
