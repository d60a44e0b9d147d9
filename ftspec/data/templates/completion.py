"""``template: {type: completion}``: prompt/completion pairs for base models.

Follows the legacy fine-tuning rules: a fixed separator ends every prompt and occurs nowhere
inside one, every completion starts with one space and ends with a fixed stop sequence. A
conversation becomes a dialogue prompt (``User: …\\nAssistant:``) and the last assistant turn.

Data already prepared for OpenAI's legacy tool (a prompt that ends in the separator, a
completion that starts with one space and ends in the stop) is kept as it is. Every change the
template makes on its own (separator or stop appended, a leading space added or leading
spaces cut to one) is counted in ``changes``: the manifest and the console report them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ftspec.data.records import Example
from ftspec.data.templates import (
    TEMPLATES,
    Template,
    TemplateError,
    compile_problems,
    compile_template,
    render_template,
)


@TEMPLATES.register("completion")
class CompletionTemplate(Template):
    kind = "completion"

    def __init__(self, options: dict[str, Any], spec) -> None:
        super().__init__(options, spec)
        self.separator: str = options["separator"]
        self._stop: str = options["stop"]
        self.user_label: str = options["user_label"]
        self.assistant_label: str = options["assistant_label"]
        self._prompt = compile_template(options.get("prompt") or "{{ prompt }}")
        system = options.get("system")
        self._system = compile_template(system) if system is not None else None
        self.changes: Counter[str] = Counter()  # automatic change -> how many records it touched

    @classmethod
    def problems(cls, options, spec):
        sample = {"prompt": "", "system": "", "dialogue": "", "name": spec.name}
        out = compile_problems(spec, "prompt", options.get("prompt"), sample)
        if options.get("system") is not None:
            out += compile_problems(spec, "system", options.get("system"), {"name": spec.name, "system": ""})
        return out

    @property
    def stop(self) -> list[str]:
        return [self._stop]

    def dialogue(self, messages: list[dict[str, Any]]) -> tuple[str, str]:
        """(system text, ``Label: text`` lines ending with the assistant label)."""
        system = ""
        lines = []
        for message in messages:
            role = message.get("role")
            content = message.get("content") or ""
            if role == "system":
                system = content
            elif role == "assistant":
                lines.append(f"{self.assistant_label}: {content}")
            else:
                lines.append(f"{message.get('name') or self.user_label}: {content}")
        lines.append(f"{self.assistant_label}:")
        return system, "\n".join(lines)

    def build_prompt(self, prompt: str, system: str = "", dialogue: str = "") -> str:
        if self._system is not None:
            system = render_template(self._system, "template.system", name=self.spec.name, system=system)
        if self.options.get("prompt") is None:  # default layout: system line, then the prompt
            text = f"{system}\n{prompt}" if system else prompt
        else:  # a custom prompt template places {{ system }} itself
            text = render_template(self._prompt, "template.prompt", prompt=prompt, system=system,
                                   dialogue=dialogue, name=self.spec.name)
        sep = self.separator
        if text.endswith(sep) and text.count(sep) == 1:
            return text  # prepared for the legacy tool already: never a second separator
        if sep in text:
            raise TemplateError(f"prompt contains the separator {sep!r}; choose another `template.separator`")
        self.changes["separator appended"] += 1
        return text + sep

    def build_completion(self, completion: str) -> str:
        stop = self._stop
        prepared = completion.endswith(stop) and completion.count(stop) == 1
        body = completion[: -len(stop)] if prepared else completion
        if stop in body:
            raise TemplateError(f"completion contains the stop sequence {stop!r}; choose another `template.stop`")
        text = " " + body.lstrip(" ")
        if not body.startswith(" "):
            self.changes["leading space added"] += 1
        elif body.startswith("  "):
            self.changes["leading spaces cut to one"] += 1
        if not prepared:
            self.changes["stop appended"] += 1
        return text + stop

    def render(self, example: Example) -> dict[str, Any]:
        record = example.record
        if "messages" not in record:
            return {"prompt": self.build_prompt(record.get("prompt") or ""),
                    "completion": self.build_completion(record.get("completion") or "")}
        messages = list(record["messages"])
        while messages and messages[-1].get("role") != "assistant":
            messages.pop()
        if not messages:
            raise TemplateError("conversation has no assistant turn to use as the completion")
        answer = messages.pop()
        system, dialogue = self.dialogue(messages)
        return {"prompt": self.build_prompt(dialogue, system=system, dialogue=dialogue),
                "completion": self.build_completion(answer.get("content") or "")}

    def prompt_for(self, messages=None, prompt=None) -> str:
        if prompt is not None:
            return self.build_prompt(prompt)
        if not messages:
            raise TemplateError("an eval case needs messages or a prompt")
        system, dialogue = self.dialogue(messages)
        return self.build_prompt(dialogue, system=system, dialogue=dialogue)
