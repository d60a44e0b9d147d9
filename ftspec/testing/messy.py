"""Small data files for every source format, clean and messy, and a check of the row books.

Shared by the row-accounting tests, the fuzzing suite (``tests/fuzz/``) and
``benchmarks/fuzz.py``: each format gets a file with enough good records for a dataset plus
the classes of mess found in issue 13 (broken items, blank lines, stray quotes, bad bytes,
impossible dates), and :func:`books` runs the real pipeline up to the dataset-level checks
and returns its ``accounting``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def _chat(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"question {i}"},
                         {"role": "assistant", "content": f"answer {i}"}]}


def _jsonl(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode("utf-8")


GOOD = 12

CHAT_JSONL = _jsonl(
    [json.dumps(_chat(i)) for i in range(GOOD)]
    + ["", '{"messages": [', '{"messages": [{"role": "user", "content": NaN}]}', '"just a string"',
       '{"messages": [{"role": "user", "content": "\\ud800"}]}', "[" * 100 + "]" * 100]
) + b'{"messages": "\xff\xfe"}\n'

COMPLETION_JSONL = _jsonl(
    [json.dumps({"prompt": f"p{i}", "completion": f"c{i}"}) for i in range(GOOD)]
    + ['{"prompt": "x"}', "   ", '{"prompt": 1, "completion": "c"}', '{"prompt": "a", "completion": 1e999}']
)

JSON_ARRAY = ("[\n" + "".join(f"  {json.dumps(_chat(i))},\n" for i in range(GOOD))
              + '  {"messages": [{"role": "user", "content": "unclosed\n'
              + '  {"prompt": "p", "completion": "c",\n'
              + '  {"prompt": "p2", "completion": NaN},\n'
              + '  "oops",\n'
              + f"  {json.dumps(_chat(99))},\n]\n").encode("utf-8")

CSV_PAIRS = ("question,answer\n" + "".join(f"q{i},a{i}\n" for i in range(GOOD))
             + ",\n" + "only one column\n" + '"multi\nline",answer\n').encode("utf-8")

KAKAO_TEXT = ("민지 님과 카카오톡 대화\n저장한 날짜 : 2022. 12. 18. 오전 9:12\n\n"
              "2022년 12월 17일 토요일\n"
              + "".join(f"2022. 12. 17. 오후 1:{10 + i}, 민지 : 질문 {i}\n2022. 12. 17. 오후 1:{10 + i}, Json : 답 {i}\n"
                        for i in range(GOOD))
              + "2022. 2. 30. 오후 1:55, 민지 : 이런 날은 없다\n"
              + "2022. 13. 1. 오후 1:55, Json : 13월\n"
              + "2022. 12. 17. 오후 1:61, Json : 61분\n"
              + "2022. 12. 17. 오후 1:59: 민지님이 나갔습니다.\n"
              + "2022. 12. 17. 오후 2:00, 민지 : 사진\n"
              + "2022. 12. 17. 오후 2:01, Json : 마지막\n이어지는 줄\n").encode("utf-8")

KAKAO_CSV = ("Date,User,Message\n"
             + "".join(f"2022-12-17 13:{10 + i}:00,민지,질문 {i}\n2022-12-17 13:{10 + i}:30,Json,답 {i}\n"
                       for i in range(GOOD))
             + "\n2022-02-30 13:55:00,Json,bad day\nyesterday,Json,hi\n2022-12-17 14:00:00,Json\n").encode("utf-8")

MESSAGES_CSV = ("time,speaker,text\n"
                + "".join(f"2022-12-17T13:{10 + i}:00,alice,hi {i}\n2022-12-17T13:{10 + i}:30,bob,hey {i}\n"
                          for i in range(GOOD))
                + "\n2022-12-17T14:00:00+09:00,alice,zoned\nnot a time,bob,x\n2022-12-17T14:01:00,,nobody\n"
                + "2022-12-17T14:02:00,bob,   \n").encode("utf-8")

QA_TEXT = ("".join(f"Q) question {i}\nA) answer {i}\n\n" for i in range(GOOD))
           + "A) answer without question\n\nQ) question without answer\n\n---\nQ) last\nA) one\n").encode("utf-8")

# format -> (file name, bytes, extra source keys)
SAMPLES: dict[str, tuple[str, bytes, dict[str, Any]]] = {
    "chat_jsonl": ("data.jsonl", CHAT_JSONL, {}),
    "completion_jsonl": ("data.jsonl", COMPLETION_JSONL, {}),
    "json": ("data.json", JSON_ARRAY, {}),
    "csv": ("data.csv", CSV_PAIRS, {"columns": {"prompt": "question", "completion": "answer"}}),
    "kakaotalk": ("chat.txt", KAKAO_TEXT, {"assistant": "Json", "context_turns": 1}),
    "kakaotalk_csv": ("chat.csv", KAKAO_CSV, {"assistant": "Json", "session_gap": "30m"}),
    "messages_csv": ("messages.csv", MESSAGES_CSV, {"assistant": "bob"}),
    "qa_text": ("forum.txt", QA_TEXT, {}),
}


def source_format(sample: str) -> str:
    return "kakaotalk" if sample.startswith("kakaotalk") else sample


def write_project(root: Path, sample: str, data: bytes | None = None, *, on_error: str = "skip",
                  template: dict[str, Any] | None = None, encoding: str | None = None) -> Path:
    """``root/spec.yaml`` reading one sample file (or ``data`` in its place); the spec path."""
    name, default, extra = SAMPLES[sample]
    (root / name).write_bytes(default if data is None else data)
    fmt = source_format(sample)
    template = template or ({"type": "completion"} if fmt in ("completion_jsonl", "csv") else {"type": "chat"})
    spec = {"ftspec": 1, "name": "fuzz", "provider": "openai", "base_model": "gpt-4o-mini-2024-07-18",
            "sources": [{"name": "src", "path": name, "format": fmt, "on_error": on_error, **extra,
                         **({"encoding": encoding} if encoding else {})}],
            "template": template}
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def books(spec_path: Path) -> dict[str, Any]:
    """The pipeline's ``accounting`` for a spec (a full streaming pass, no files written),
    with ``sources`` holding each source's own books."""
    from ftspec.data.pipeline import accounting, stream_examples
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path)
    run = stream_examples(spec, None, hashes=False)
    out = accounting(run.ctx, run.writers)
    out["sources"] = {name: stats.accounting() for name, stats in run.ctx.sources.items()}
    out["skipped_rows"] = {name: list(stats.skipped_rows) for name, stats in run.ctx.sources.items()}
    return out
