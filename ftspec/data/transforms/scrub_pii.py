"""``scrub_pii``: replace (or drop examples with) emails, phones, RRNs, cards, IPs and secrets.

Every finding is counted per kind under ``counters.pii`` in the manifest; with ``action: drop``
the example is removed (and listed) instead of rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ftspec.data.pii import KINDS, Finding, scrub
from ftspec.data.records import Example
from ftspec.data.transforms import TRANSFORMS, Transform


@TRANSFORMS.register("scrub_pii")
class ScrubPii(Transform):
    per_example = True
    stage = "pre"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds = tuple(self.options.get("kinds") or KINDS)
        self.action = self.options.get("action", "replace")

    def apply(self, items: Iterator[Example]) -> Iterator[Example]:
        for example in items:
            record, findings = self._scrub_record(example.record)
            if not findings:
                yield example
                continue
            for finding in findings:
                self.ctx.count("pii", finding.kind)
            if self.action == "drop":
                kinds = sorted({f.kind for f in findings})
                self.remove(f"contains pii: {', '.join(kinds)}", example)
                continue
            yield example.replace(record)

    def _scrub_record(self, record: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
        findings: list[Finding] = []

        def clean(value: Any) -> Any:
            if isinstance(value, str):
                text, found = scrub(value, self.kinds)
                findings.extend(found)
                return text
            if isinstance(value, list):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                # only text fields: roles, names of tools and ids stay as they are
                return {k: clean(v) if k in _TEXT_KEYS or isinstance(v, (list, dict)) else v
                        for k, v in value.items()}
            return value

        out = clean(record)
        return out, findings


_TEXT_KEYS = frozenset({"content", "text", "prompt", "completion", "arguments"})
