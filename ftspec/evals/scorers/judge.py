"""``judge``: an LLM grades the output against a rubric; the rubric and its reasoning are kept.

The judge replies with JSON ``{"score": 0..1, "reasoning": "..."}``; the case passes when the
score reaches ``threshold`` (default 0.5). Any provider can judge (``provider``/``model``).
"""

from __future__ import annotations

import json
import re

from ftspec.errors import EvalError
from ftspec.evals.scorers import SCORERS, Score, Scorer

JUDGE_SYSTEM = (
    "You grade answers against a rubric. Reply with JSON only: "
    '{"reasoning": "<one or two sentences>", "score": <number from 0 to 1>}.'
)
_SCORE = re.compile(r'"?score"?\s*[:=]\s*([01](?:\.\d+)?)', re.IGNORECASE)


def parse_verdict(text: str) -> tuple[float | None, str]:
    """(score, reasoning) from a judge's reply; score None when the reply has none."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            score = float(data["score"])
            return min(max(score, 0.0), 1.0), str(data.get("reasoning", "")).strip()
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            pass
    found = _SCORE.search(text)
    return (float(found.group(1)) if found else None), text.strip()


@SCORERS.register("judge")
class Judge(Scorer):
    @classmethod
    def problems(cls, options, spec, path):
        if options.get("provider") not in (None, spec.provider) and not options.get("model"):
            return [spec.problem(path, "a judge on another provider needs 'model'")]
        return []

    def judge_model(self) -> str:
        return self.options.get("model") or self.context.spec.base_model

    def messages(self, output: str, case) -> list[dict[str, str]]:
        ideal = "\n".join(case.ideals) or "(none given)"
        user = (
            f"Rubric:\n{self.options['rubric']}\n\nQuestion:\n{case.input_text()}\n\n"
            f"Reference answer:\n{ideal}\n\nAnswer to grade:\n{output}"
        )
        return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]

    def score(self, output, case):
        from ftspec.providers.base import ChatRequest

        provider = self.context.provider_named(self.options.get("provider"))
        request = ChatRequest(model=self.judge_model(), messages=self.messages(output, case),
                              temperature=0.0, max_tokens=300, seed=0)
        try:
            reply = self.context.generate(provider, request).choices[0]
        except EvalError:
            raise
        except Exception as exc:  # noqa: BLE001 - a judge failure marks the case, not the run
            return Score(0.0, False, {"rubric": self.options["rubric"]}, error=f"judge failed: {exc}")
        score, reasoning = parse_verdict(reply)
        detail = {"rubric": self.options["rubric"], "reasoning": reasoning, "judge": self.judge_model()}
        if score is None:
            return Score(0.0, False, detail, error="the judge's reply had no score")
        threshold = float(self.options.get("threshold", 0.5))
        return Score(score, score >= threshold, detail)
