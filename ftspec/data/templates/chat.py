"""``template: {type: chat}``: OpenAI chat records with a system prompt and role mapping."""

from __future__ import annotations

from typing import Any

from ftspec.data.preference import is_preference
from ftspec.data.records import Example
from ftspec.data.templates import (
    TEMPLATES,
    Template,
    TemplateError,
    compile_problems,
    compile_template,
    render_template,
)


@TEMPLATES.register("chat")
class ChatTemplate(Template):
    kind = "chat"

    def __init__(self, options: dict[str, Any], spec) -> None:
        super().__init__(options, spec)
        self.roles: dict[str, str] = dict(options.get("roles") or {})
        self.train_on: str = options.get("train_on", "all")
        system = options.get("system")
        self._system = compile_template(system) if system is not None else None

    @classmethod
    def problems(cls, options, spec):
        sample = {"name": spec.name, "source": "source", "system": "", "base_model": spec.base_model}
        return compile_problems(spec, "system", options.get("system"), sample)

    def system_content(self, source: str, existing: str) -> str | None:
        if self._system is None:
            return existing or None
        return render_template(
            self._system, "template.system", name=self.spec.name, source=source, system=existing,
            base_model=self.spec.base_model,
        )

    def render(self, example: Example) -> dict[str, Any]:
        record = example.record
        if is_preference(record) and isinstance(record.get("input"), dict):
            return self._render_preference(example)
        if "messages" not in record:  # a prompt/completion pair becomes one user/assistant turn
            record = {"messages": [
                {"role": "user", "content": record.get("prompt", "")},
                {"role": "assistant", "content": record.get("completion", "")},
            ]}
        messages = [self._map_role(m) for m in record["messages"]] if self.roles else list(record["messages"])
        existing = ""
        if messages and messages[0].get("role") == "system":
            existing = messages.pop(0).get("content") or ""
        system = self.system_content(example.origin.source, existing)
        if system:
            messages.insert(0, {"role": "system", "content": system})
        if self.train_on == "last":
            messages = _weight_last_only(messages)
        out = {k: v for k, v in record.items() if k != "messages"}
        out["messages"] = messages
        return out

    def _render_preference(self, example: Example) -> dict[str, Any]:
        """The system prompt and role mapping go into ``input``; the two answers keep theirs
        (``train_on`` does not apply: DPO trains on the answers alone)."""
        record = example.record
        given = record["input"]
        messages = given.get("messages")
        out = dict(record)
        if isinstance(messages, list):
            messages = [self._map_role(m) for m in messages] if self.roles else list(messages)
            existing = ""
            if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
                existing = messages.pop(0).get("content") or ""
            system = self.system_content(example.origin.source, existing)
            if system:
                messages.insert(0, {"role": "system", "content": system})
            out["input"] = {**given, "messages": messages}
        for key in ("preferred_output", "non_preferred_output"):
            if isinstance(record.get(key), list) and self.roles:
                out[key] = [self._map_role(m) for m in record[key]]
        return out

    def _map_role(self, message: Any) -> Any:
        if not isinstance(message, dict) or message.get("role") not in self.roles:
            return message
        return {**message, "role": self.roles[message["role"]]}

    def prompt_for(self, messages=None, prompt=None):
        if messages is None:
            if prompt is None:
                raise TemplateError("an eval case needs messages or a prompt")
            messages = [{"role": "user", "content": prompt}]
        messages = [self._map_role(m) for m in messages]
        existing = ""
        if messages and messages[0].get("role") == "system":
            existing = messages[0].get("content") or ""
            messages = messages[1:]
        system = self.system_content("eval", existing)
        return ([{"role": "system", "content": system}] if system else []) + messages


def _weight_last_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Earlier assistant turns get ``weight: 0``; only the last one is trained on."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    return [
        {**m, "weight": 0} if m.get("role") == "assistant" and i != last else m
        for i, m in enumerate(messages)
    ]
