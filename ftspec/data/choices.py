"""The compare decisions file: which of two answers a person preferred, by stable pair id.

``ftspec eval SPEC --compare`` writes the pairs (``reports/<spec>/compare.json``); the compare
page saves each choice here, ``reviews/<spec>.choices.json`` by default. Every entry carries a
snapshot of what was compared (the prompt and both answers with their models), so the file is
a training source on its own (``format: compare_choices``) and a choice never silently applies to
answers that were regenerated since: the page shows such a pair as undecided again.

Writes take a file lock, reread the file, change one entry and rename a complete file into
place (``atomic_write_text``), so a decision the page shows as saved survives a SIGKILL, and two
tabs or servers never lose each other's choices.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftspec.errors import DataError, Location, Problem
from ftspec.util import atomic_write_text

CHOICES_VERSION = 1
CHOICES = ("left", "right", "tie", "both_bad")
LOCK_TIMEOUT_S = 30.0


def choices_path(project_root: Path, spec_name: str) -> Path:
    return Path(project_root) / "reviews" / f"{spec_name}.choices.json"


def dumps_choices(data: dict[str, Any]) -> str:
    # one decision per top-level key line: the source can name a decision's line
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load_choices(path: Path, shown: str | None = None) -> dict[str, dict[str, Any]]:
    """``pair id -> decision``; {} when the file does not exist yet; located errors otherwise."""
    shown = shown or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError([Problem(Location(shown, exc.lineno, exc.colno), f"choices file is not valid JSON: {exc.msg}")]) from None
    if not isinstance(data, dict) or data.get("ftspec_choices") != CHOICES_VERSION or not isinstance(data.get("decisions"), dict):
        raise DataError([Problem(Location(shown, 1), f"not an ftspec choices file (version {CHOICES_VERSION})")])
    return data["decisions"]


def decision_lines(path: Path) -> dict[str, int]:
    """The line each decision starts on (``dumps_choices`` puts one id per line at depth 2)."""
    out: dict[str, int] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for number, line in enumerate(lines, 1):
        if line.startswith('  "') and line.rstrip().endswith("{"):
            out[json.loads(line.strip().rstrip("{").rstrip().rstrip(":"))] = number
    return out


def save_choice(path: Path, spec_name: str, pair_id: str, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Set one decision under the file lock, atomically; returns every decision after it."""
    from filelock import FileLock

    if entry.get("choice") not in CHOICES:
        raise ValueError(f"choice must be one of {', '.join(CHOICES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
        decisions = load_choices(path)
        decisions[pair_id] = entry
        atomic_write_text(path, dumps_choices({"ftspec_choices": CHOICES_VERSION, "spec": spec_name,
                                               "decisions": decisions}))
    return decisions


def preferred_and_rejected(entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(chosen side, other side) of a left/right decision; None for a tie or both bad."""
    if entry.get("choice") == "left":
        return entry["left"], entry["right"]
    if entry.get("choice") == "right":
        return entry["right"], entry["left"]
    return None


def win_rate(decisions: dict[str, dict[str, Any]], model: str) -> dict[str, Any]:
    """``model``'s record over the decided pairs it was in: wins, losses, ties, both bad, and
    ``win_rate`` = (wins + ties / 2) / (wins + losses + ties) (None before any such decision)."""
    wins = losses = ties = both_bad = 0
    for entry in decisions.values():
        sides = {entry.get("left", {}).get("model"), entry.get("right", {}).get("model")}
        if model not in sides or len(sides) < 2:
            continue
        chosen = preferred_and_rejected(entry)
        if chosen is None:
            ties += entry.get("choice") == "tie"
            both_bad += entry.get("choice") == "both_bad"
        elif chosen[0].get("model") == model:
            wins += 1
        else:
            losses += 1
    decided = wins + losses + ties
    return {"model": model, "wins": wins, "losses": losses, "ties": ties, "both_bad": both_bad,
            "win_rate": round((wins + ties / 2) / decided, 4) if decided else None}
