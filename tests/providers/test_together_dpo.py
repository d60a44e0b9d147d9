"""DPO on Together, against the loopback server checked with the together SDK's own types:
``training_method: dpo`` with ``dpo_beta``, and the preference file in Together's DPO form."""

from __future__ import annotations

import json

from ftspec import build
from ftspec.lockfile import load_lock, lock_path

from .test_together import write_together_spec


def _dpo_spec(tmp_path, url, *, options: str = ""):
    spec = write_together_spec(tmp_path, url, extra="")
    data = tmp_path / "data" / "prefs.jsonl"
    data.write_text("".join(json.dumps({
        "input": {"messages": [{"role": "user", "content": f"question {i}?"}], "parallel_tool_calls": False},
        "preferred_output": [{"role": "assistant", "content": f"Gladly {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": f"No {i}."}]}) + "\n" for i in range(12)),
        encoding="utf-8")
    text = spec.read_text(encoding="utf-8").replace(
        "{name: faq, path: ../data/train.jsonl, format: chat_jsonl}",
        "{name: pairs, path: ../data/prefs.jsonl, format: preference_jsonl}").replace(
        "  n_epochs: 2\n", "  n_epochs: 2\n  beta: 0.25\n").replace("warmup_ratio: 0.1}", f"warmup_ratio: 0.1{options}}}")
    spec.write_text(text + "job: {method: dpo}\n", encoding="utf-8")
    return spec


def test_dpo_job_and_file_on_together(together_server, together_key, tmp_path):
    spec = _dpo_spec(tmp_path, together_server.url)
    result = build([spec], echo=lambda _line: None, live=False)
    assert [t.split(".", 1)[1] for t in result.ran] == ["dataset", "upload", "job", "wait", "lock"]
    (job,) = together_server.jobs.values()
    method = job["_training_method"]
    assert method["method"] == "dpo" and method["dpo_beta"] == 0.25
    assert load_lock(lock_path(spec))["job"]["status"] == "succeeded"
    # the fake checked each uploaded line against Together's DPO format (its violations stay empty)
    assert together_server.files


def test_dpo_options_reach_together_and_a_supervised_job_refuses_them(together_server, together_key, tmp_path):
    options = ", rpo_alpha: 0.5, simpo_gamma: 0.1, dpo_normalize_logratios_by_length: true"
    build([_dpo_spec(tmp_path / "dpo", together_server.url, options=options)], echo=lambda _line: None, live=False)
    (job,) = together_server.jobs.values()
    method = job["_training_method"]
    assert (method["rpo_alpha"], method["simpo_gamma"], method["dpo_normalize_logratios_by_length"]) == (0.5, 0.1, True)

    from ftspec.errors import ProviderError

    spec = write_together_spec(tmp_path / "sft", together_server.url, extra="")
    text = spec.read_text(encoding="utf-8").replace("warmup_ratio: 0.1}", "warmup_ratio: 0.1, rpo_alpha: 0.5}")
    spec.write_text(text, encoding="utf-8")
    try:
        build([spec], echo=lambda _line: None, live=False)
    except ProviderError as exc:
        assert str(exc) == ("hyperparameters.together.rpo_alpha: a DPO option; this job's method is supervised "
                            "(job: {method: dpo})"), str(exc)
    else:
        raise AssertionError("a DPO option was sent with a supervised job")
    assert len(together_server.jobs) == 1


def test_multi_turn_pairs_are_refused_before_upload(together_server, together_key, tmp_path):
    spec = _dpo_spec(tmp_path, together_server.url)
    data = tmp_path / "data" / "prefs.jsonl"
    lines = data.read_text(encoding="utf-8").splitlines()
    two = json.loads(lines[3])
    two["preferred_output"].append({"role": "assistant", "content": "and more"})
    lines[3] = json.dumps(two)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from ftspec.errors import DataError

    try:
        build([spec], echo=lambda _line: None, live=False)
    except DataError as exc:
        assert "data/prefs.jsonl:4: multi_turn_output:" in str(exc)
    else:
        raise AssertionError("a two-message side was accepted for Together")
    assert together_server.count("POST", "/v1/files") == 0
