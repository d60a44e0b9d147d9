"""``max_tokens``: examples over a token limit are dropped or fail the build, never truncated.

Runs after the template (``stage = "post"``) on exact token counts. The default limit is the
base model's per-example training limit from the base-model table.
"""

from __future__ import annotations

from collections.abc import Iterator

from ftspec.data.records import Rendered
from ftspec.data.transforms import TRANSFORMS, Transform
from ftspec.errors import DataError, Location, Problem


@TRANSFORMS.register("max_tokens")
class MaxTokens(Transform):
    per_example = True
    stage = "post"

    def limit(self) -> int:
        if "limit" in self.options:
            return int(self.options["limit"])
        from ftspec.data.base_models import lookup

        info = lookup(self.spec.base_model)
        if info is None or info.context_limit is None:
            raise DataError([self.spec.problem(
                ("transforms", self.index),
                f"max_tokens: the per-example limit of '{self.spec.base_model}' is unknown; set `limit:`",
            )])
        return info.context_limit

    def apply(self, items: Iterator[Rendered]) -> Iterator[Rendered]:
        limit = self.limit()
        action = self.options.get("action", "fail")
        for item in items:
            if item.tokens <= limit:
                yield item
                continue
            reason = f"{item.tokens} tokens > limit {limit}"
            if action == "drop":
                self.remove(f"over {limit} tokens", item.example)
                continue
            origin = item.example.origin
            self.ctx.problems.append(Problem(
                Location(origin.file, origin.line),
                f"max_tokens: example has {reason}; shorten it or use `max_tokens: {{action: drop}}`",
            ))
