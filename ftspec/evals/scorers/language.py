"""``language``: the output is written in the expected language (Korean or English).

The expected language is ``expect`` (``ko``/``en``), else the case's tag ``ko`` or ``en``. The
output's language is read from its letters: the share of Hangul among Hangul and Latin letters.
Korean support answers keep register and chip names in Latin letters ("PHYCFGR에서 ..."), so
Korean needs a Hangul share of at least ``min_hangul`` (default 0.3), and English needs a share
below it plus at least one Latin letter. Digits, punctuation and symbols count for neither.
"""

from __future__ import annotations

from ftspec.evals.scorers import SCORERS, Score, Scorer

LANGUAGES = ("ko", "en")
DEFAULT_MIN_HANGUL = 0.3


def is_hangul(ch: str) -> bool:
    # syllables, jamo and compatibility jamo
    return "\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"


def hangul_share(text: str) -> tuple[float, int]:
    """(Hangul letters / (Hangul + Latin letters), number of such letters)."""
    hangul = sum(1 for ch in text if is_hangul(ch))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    letters = hangul + latin
    return (hangul / letters if letters else 0.0), letters


def detect_language(text: str, min_hangul: float = DEFAULT_MIN_HANGUL) -> str | None:
    """``ko``, ``en``, or None for an output with no letters at all."""
    share, letters = hangul_share(text)
    if not letters:
        return None
    return "ko" if share >= min_hangul else "en"


@SCORERS.register("language")
class Language(Scorer):
    def needed_fields(self):
        return []

    def expected(self, case) -> str | None:
        if "expect" in self.options:
            return str(self.options["expect"])
        tags = [t for t in case.tags if t in LANGUAGES]
        return tags[0] if len(tags) == 1 else None

    def case_problems(self, case):
        if "expect" in self.options:
            return []
        tags = [t for t in case.tags if t in LANGUAGES]
        if len(tags) != 1:
            return [f"needs exactly one language tag (ko or en) or the scorer option 'expect'; "
                    f"the case's tags are {case.tags or '(none)'}"]
        return []

    def score(self, output, case):
        expected = self.expected(case)
        share, _ = hangul_share(output)
        got = detect_language(output, float(self.options.get("min_hangul", DEFAULT_MIN_HANGUL)))
        ok = got == expected
        detail = {"expected": expected, "detected": got, "hangul_share": round(share, 3)}
        return Score(1.0 if ok else 0.0, ok, detail)
