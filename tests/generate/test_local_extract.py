"""``extract`` on the local provider with the tiny random model: offline, no key. Its answers
are noise; what is checked is the plumbing — every chunk asked once, every bad answer counted
at its chunk's location under ``on_error: skip``, nothing of it trained on, and a rebuild that
answers every chunk from the cache."""

from __future__ import annotations

import json

from generate_helpers import PROMPT, write_transcripts


def test_local_extract_counts_every_chunk_and_caches(tiny_model, tmp_path, monkeypatch):
    from ftspec.data.pipeline import build_dataset
    from ftspec.providers.models import spec_models
    from ftspec.spec.loader import load_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()
    write_transcripts(tmp_path, 4)
    faq = tmp_path / "data" / "faq.jsonl"
    faq.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}?"},
                                                    {"role": "assistant", "content": f"a{i}."}]}) + "\n"
                           for i in range(10)), encoding="utf-8")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "extract.txt").write_text(PROMPT, encoding="utf-8")
    spec_path = tmp_path / "specs" / "local.yaml"
    spec_path.parent.mkdir()
    spec_path.write_text(f"""ftspec: 1
name: local
provider: local
base_model: {tiny_model}
providers:
  local: {{store: {tmp_path / "store"}, device: cpu}}
sources:
  - {{name: calls, path: ../data/raw/calls.txt, format: transcript}}
  - {{name: faq, path: ../data/faq.jsonl, format: chat_jsonl}}
transforms:
  - extract:
      model: {tiny_model}
      prompt: ../prompts/extract.txt
      sampling: {{max_tokens: 8}}
      on_error: skip
template: {{type: chat}}
review: {{path: ../reviews/local.yaml, required: false}}
""", encoding="utf-8")
    spec = load_spec(spec_path)
    with spec_models(spec) as models:
        first = build_dataset(spec, None, models=models)
    books = first.manifest["generated"]["transforms[0].extract"]
    assert (books["chunks"], books["calls"], books["called"], books["cached"]) == (4, 4, 4, 0)
    # a random model answers no chat example: each chunk is an error at its location (or, by
    # chance, an example: either way every chunk is accounted for)
    assert sum(books["errors"].values()) + len({o["origin"] for o in books["origins"]}) >= 4
    assert {r["line"] for r in books["error_rows"]} <= {1, 4, 7, 10}
    assert books["completion_tokens"] > 0
    assert first.manifest["accounting"]["balanced"] is True

    second = build_dataset(spec, None)  # no client at all: every answer is in the cache
    again = second.manifest["generated"]["transforms[0].extract"]
    assert (again["cached"], again["pending"], again["called"]) == (4, 0, 0)
    assert again["errors"] == books["errors"]
