"""Human review of examples: decisions (``decisions.py``: load, check, apply at build time)
and pages (``pages.py``: the Markdown and HTML pages ``ftspec review`` writes)."""

from ftspec.data.review.decisions import (
    DECISIONS,
    Decision,
    apply_review,
    decisions_path,
    load_decisions,
    require_review,
)
from ftspec.data.review.pages import ReviewResult, collect_examples, write_review

__all__ = ["DECISIONS", "Decision", "ReviewResult", "apply_review", "collect_examples", "decisions_path",
           "load_decisions", "require_review", "write_review"]
