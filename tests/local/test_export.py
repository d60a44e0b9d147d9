"""``ftspec export``: every format's files, manifest and serve command; ``--check`` against the
trained model's eval report; the lockfile's serve entry; one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from ftspec.cli import main
from ftspec.providers import get_provider
from ftspec.providers.base import JobRequest
from ftspec.providers.local.chat_format import (
    GEMMA,
    JINJA_CHAT_TEMPLATE,
    OLLAMA_TEMPLATE,
    ChatFormat,
    chat_prompt,
)

from .conftest import support_records, write_jsonl
from .test_jobs import wait_for

CASES = [
    {"id": f"reset-{i}", "messages": [{"role": "system", "content": "You are Acme support."},
                                      {"role": "user", "content": f"How do I reset my password on device {i}?"}],
     "ideal": f"Go to Settings, then Account, then Reset password on device {i}.", "must_include": ["Settings"]}
    for i in range(3)
]


def train(root: Path, base_model: str, store: Path, name: str) -> tuple:
    provider = get_provider("local", {"store": str(store)})
    file = provider.upload(write_jsonl(root / "train.jsonl", support_records(4)), idempotency_key=f"t-{name}")
    job = provider.create_job(JobRequest(
        model=base_model, training_file=file.id, idempotency_key=f"export-{name}", suffix="exp",
        hyperparameters={"n_epochs": 2, "batch_size": 2, "learning_rate_multiplier": 50.0},
        extras={"lora_r": 4}))
    job, _ = wait_for(provider, job.id, lambda j: j.done)
    assert job.status == "succeeded", job.error
    write_jsonl(root / "cases.jsonl", CASES)
    spec = root / "specs" / f"{name}.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(
        f"ftspec: 1\nname: {name}\nprovider: local\n"
        f"base_model: {base_model}\n"
        "sources:\n  - {name: faq, path: ../train.jsonl, format: chat_jsonl}\n"
        "template: {type: chat}\n"
        "evals:\n  - name: smoke\n    cases: ../cases.jsonl\n    sampling: {temperature: 0, max_tokens: 24}\n"
        "    scorers:\n      - contains: {field: must_include}\n"
        f"providers:\n  local: {{store: {store}}}\n", encoding="utf-8")
    (root / ".ftspec").mkdir(exist_ok=True)
    return provider, job.fine_tuned_model, spec


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return train(root, tiny_model, root / "store", "tiny")


@pytest.fixture(scope="module")
def trained_gguf(tmp_path_factory):
    """The tiny model built for llama.cpp (same weights, llama.cpp's attention settings), its GGUF
    and a LoRA trained on the folder."""
    from ftspec.testing.tiny_model import build_tiny_model, write_gguf

    root = tmp_path_factory.mktemp("export-gguf")
    folder = build_tiny_model(root / "tiny-llamacpp", llama_cpp=True)
    gguf_file = write_gguf(folder, root / "tiny.gguf")
    provider, model_id, spec = train(root, str(folder), root / "store", "tinyg")
    return provider, model_id, spec, gguf_file


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


def eval_report(spec: Path, model_id: str, capsys) -> dict:
    code, _, err = run_cli(["eval", str(spec), "--model", model_id], capsys)
    assert code in (0, 1), err  # 1: a gate; the report is written either way
    report = json.loads((spec.parent.parent / "reports" / spec.stem / "smoke.json").read_text())
    assert report["model"] == model_id
    return report


def test_export_merged_matches_base_plus_adapter(trained, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    provider, model_id, spec = trained
    eval_report(spec, model_id, capsys)
    folder = tmp_path / "m"
    code, out, err = run_cli(["export", str(spec), "--format", "merged", "--out", str(folder),
                              "--model", model_id, "--check"], capsys)
    assert code == 0, err
    first, serve, *checked = out.strip().splitlines()
    assert checked[0] == "check: merged export through transformers vs the trained model"
    assert next(line for line in checked if line.startswith("eval 'smoke'")).startswith(
        "eval 'smoke': identical 3/3, mean similarity 1.000; ")
    assert first == f"{model_id} -> {folder} (merged; see {folder / 'README.md'})"
    assert serve == f"serve: vllm serve {folder.resolve()} --served-model-name exp --chat-template {folder.resolve() / 'chat_template.jinja'}"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    readme = (folder / "README.md").read_text()
    assert serve.removeprefix("serve: ") in readme and "convert_hf_to_gguf.py" in readme
    record = json.loads((folder / "export.json").read_text())
    assert record["format"] == "merged" and record["artifact"] == "model.safetensors"
    from ftspec.util import sha256_file

    assert record["artifact_sha256"] == sha256_file(folder / "model.safetensors")
    assert record["base"]["sha256"] == provider.manifest(model_id)["base"]["sha256"]
    assert record["stops"] == ["<end_of_turn>"] and record["template"]["chat_template"] == JINJA_CHAT_TEMPLATE
    tok = AutoTokenizer.from_pretrained(folder)
    messages = CASES[0]["messages"]
    assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == "<bos>" + chat_prompt(messages)
    assert tok.convert_tokens_to_ids("<end_of_turn>") in GenerationConfig.from_pretrained(folder).eos_token_id
    merged = AutoModelForCausalLM.from_pretrained(folder)
    engine = provider.engine(model_id)
    ids = torch.tensor([[2, 10, 20, 30, 40]])
    with torch.no_grad():
        expected = engine.model(input_ids=ids).logits
        got = merged(input_ids=ids).logits
        base = provider.engine(provider.manifest(model_id)["base_model"]).model(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=1e-4)
    assert not torch.allclose(base, got, atol=1e-4)  # the merge really carries the adapter


def test_export_peft_from_the_lockfile_records_serve(trained, tmp_path, capsys, monkeypatch):
    provider, model_id, spec = trained
    lock = spec.with_suffix(".lock")
    lock.write_text(json.dumps({"lock_version": 1, "spec_sha256": "x", "provider": "local",
                                "base_model": "tiny", "model": model_id}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["export", str(spec), "--format", "adapter"], capsys)
    assert code == 0, err
    assert err.strip() == "note: --format adapter is deprecated; use --format peft (same files)"
    folder = Path("exports/tiny-peft")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 4 and (folder / "adapter_model.safetensors").is_file()
    assert json.loads((folder / "manifest.json").read_text())["model"] == model_id
    record = json.loads((folder / "export.json").read_text())
    assert record["serve"].startswith("vllm serve ") and " --enable-lora --max-lora-rank 8 " in record["serve"]
    assert f"--lora-modules exp={folder.resolve()}" in record["serve"]
    assert record["serve"] in (folder / "README.md").read_text()
    locked = json.loads(lock.read_text())
    assert locked["serve"] == {"command": "ftspec serve specs/tiny.yaml",
                               "exports": {"peft": record["artifact_sha256"]}}
    code, _, err = run_cli(["export", str(spec)], capsys)
    assert code == 1 and err.strip() == "error: export folder exports/tiny-peft is not empty; choose another --out or empty it"
    lock.unlink()


def test_peft_check_agrees_and_catches_a_wrong_template(trained, tmp_path, capsys):
    provider, model_id, spec = trained
    report = eval_report(spec, model_id, capsys)
    folder = tmp_path / "p"
    code, out, err = run_cli(["export", str(spec), "--format", "peft", "--out", str(folder),
                              "--model", model_id, "--check"], capsys)
    assert code == 0, err + out
    lines = out.splitlines()
    assert lines[2] == "check: peft export through transformers vs the trained model"
    passed = sum(c["results"][0]["status"] == "passed" for c in report["cases"])
    summary = next(line for line in lines if line.startswith("eval 'smoke'"))
    # the same weights and template through transformers: the trained model's greedy answers
    assert summary.startswith("eval 'smoke': identical 3/3, mean similarity 1.000; ")
    assert summary.endswith(f"pass rate trained {passed / 3:.1%} | export {passed / 3:.1%}")
    assert lines[-1] == "check passed"

    from ftspec.evals.export_check import check_export
    from ftspec.providers.local.exports import read_export
    from ftspec.spec.loader import load_spec

    chatml = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
    (folder / "chat_template.jinja").write_text(chatml)
    result = check_export(load_spec(spec, check_files=False), folder, read_export(folder), provider,
                          project_root=spec.parent.parent)
    assert not result["passed"]
    assert result["problems"][0].startswith("eval 'smoke' case 'reset-0': the export's chat template renders "
                                            "the prompt differently (at character 1: training '<start_of_turn>user")
    (folder / "chat_template.jinja").write_text(JINJA_CHAT_TEMPLATE)
    config = json.loads((folder / "generation_config.json").read_text())
    config["eos_token_id"] = [1]
    (folder / "generation_config.json").write_text(json.dumps(config))
    result = check_export(load_spec(spec, check_files=False), folder, read_export(folder), provider,
                          project_root=spec.parent.parent)
    assert not result["passed"] and "lacks '<end_of_turn>'" in result["problems"][0]


def test_gguf_lora_file_is_what_llama_cpp_reads(trained_gguf, tmp_path, capsys):
    import gguf

    provider, model_id, spec, base = trained_gguf
    folder = tmp_path / "g"
    code, out, err = run_cli(["export", str(spec), "--format", "gguf-lora", "--out", str(folder),
                              "--model", model_id, "--base-gguf", str(base)], capsys)
    assert code == 0, err
    reader = gguf.GGUFReader(folder / "adapter.gguf")
    fields = {k: reader.get_field(k).contents() for k in ("general.type", "general.architecture",
                                                          "adapter.type", "adapter.lora.alpha")}
    assert fields == {"general.type": "adapter", "general.architecture": "gemma3", "adapter.type": "lora",
                      "adapter.lora.alpha": 16.0}
    tensors = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    # train.py's default targets on 2 blocks; ne order: lora_a (in, r), lora_b (r, out)
    assert tensors["blk.0.attn_q.weight.lora_a"] == (32, 4) and tensors["blk.0.attn_q.weight.lora_b"] == (4, 32)
    assert tensors["blk.1.attn_k.weight.lora_b"] == (4, 16)
    assert all(name.startswith("blk.") and name.endswith((".lora_a", ".lora_b")) for name in tensors)
    record = json.loads((folder / "export.json").read_text())
    from ftspec.util import sha256_file

    assert record["base_gguf"] == {"path": str(base.resolve()), "sha256": sha256_file(base)}
    assert record["artifact_sha256"] == sha256_file(folder / "adapter.gguf")
    assert record["serve"] == (f"llama-server -m {base.resolve()} --lora {folder.resolve() / 'adapter.gguf'} --jinja "
                               f"--chat-template-file {folder.resolve() / 'chat_template.jinja'} --alias exp "
                               "--host 127.0.0.1 --port 8080")
    assert record["serve"] in (folder / "README.md").read_text()


def test_ollama_folder_and_modelfile(trained_gguf, tmp_path, capsys):
    from ftspec.providers.local.exports.ollama import parse_modelfile

    provider, model_id, spec, base = trained_gguf
    folder = tmp_path / "o"
    code, out, err = run_cli(["export", str(spec), "--format", "ollama", "--out", str(folder),
                              "--model", model_id, "--base-gguf", str(base)], capsys)
    assert code == 0, err
    assert (folder / "base.gguf").read_bytes() == base.read_bytes()
    text = (folder / "Modelfile").read_text()
    parsed = parse_modelfile(text)
    assert parsed == {"from": "./base.gguf", "adapter": "./adapter.gguf", "template": OLLAMA_TEMPLATE,
                      "stops": ["<end_of_turn>"]}
    assert text.startswith("FROM ./base.gguf\nADAPTER ./adapter.gguf\nTEMPLATE \"\"\"{{- $system := \"\" }}")
    assert 'PARAMETER stop "<end_of_turn>"\n' in text
    record = json.loads((folder / "export.json").read_text())
    assert record["serve"] == f"ollama create exp -f {folder.resolve() / 'Modelfile'} && ollama serve"
    assert record["serve"] in (folder / "README.md").read_text()

    from ftspec.providers.local.exports import EXPORTS

    assert EXPORTS.get("ollama")().problems(folder, record) == []
    (folder / "Modelfile").write_text(text.replace('PARAMETER stop "<end_of_turn>"\n', ""))
    assert EXPORTS.get("ollama")().problems(folder, record) == [
        f"{folder / 'Modelfile'}: no PARAMETER stop for '<end_of_turn>' (the training turn end)"]


def test_gguf_lora_runs_in_llama_cpp_and_checks(trained_gguf, tmp_path, capsys):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("skipped: llama-cpp-python is not installed (pip install 'ftspec[llamacpp]')")
        pytest.skip("llama-cpp-python is not installed (pip install 'ftspec[llamacpp]')")
    provider, model_id, spec, base = trained_gguf
    report = eval_report(spec, model_id, capsys)
    folder = tmp_path / "g"
    code, out, err = run_cli(["export", str(spec), "--format", "gguf-lora", "--out", str(folder),
                              "--model", model_id, "--base-gguf", str(base), "--check"], capsys)
    lines = out.splitlines()
    assert lines[2] == "check: gguf-lora export through llama.cpp vs the trained model", out + err
    rows = [line for line in lines if line.startswith("  smoke/")]
    assert [r.split(":")[0] for r in rows] == ["  smoke/reset-0", "  smoke/reset-1", "  smoke/reset-2"]
    summary = next(line for line in lines if line.startswith("eval 'smoke'"))
    # the same function under both runtimes (float32 base, float32 LoRA): the same greedy tokens
    assert summary.startswith("eval 'smoke': identical 3/3, mean similarity 1.000; "), out
    passed = sum(c["results"][0]["status"] == "passed" for c in report["cases"])
    assert f"pass rate trained {passed / 3:.1%} | export " in summary
    assert code == 0 and lines[-1] == "check passed", out + err

    ollama = tmp_path / "o"  # Ollama's runner is llama.cpp: the same adapter, plus the Modelfile's checks
    code, out, err = run_cli(["export", str(spec), "--format", "ollama", "--out", str(ollama),
                              "--model", model_id, "--base-gguf", str(base), "--check"], capsys)
    assert code == 0 and out.splitlines()[2] == "check: ollama export through llama.cpp vs the trained model", out + err
    assert "eval 'smoke': identical 3/3, mean similarity 1.000; " in out
    from ftspec.evals.export_check import check_export
    from ftspec.providers.local.exports import read_export
    from ftspec.spec.loader import load_spec

    modelfile = ollama / "Modelfile"
    modelfile.write_text(modelfile.read_text().replace("<start_of_turn>model\n\"\"\"", "\"\"\""))
    result = check_export(load_spec(spec, check_files=False), ollama, read_export(ollama), provider,
                          project_root=spec.parent.parent)
    assert result["problems"] == [f"{modelfile}: TEMPLATE differs from the training chat format"]

    import numpy as np
    from llama_cpp import Llama

    adapted = Llama(model_path=str(base), lora_path=str(folder / "adapter.gguf"), n_ctx=256, verbose=False,
                    logits_all=True)
    assert adapted._lora_adapter  # llama.cpp really loaded the pairs onto the base
    prompt = chat_prompt(CASES[0]["messages"])
    ids = adapted.tokenize(prompt.encode(), add_bos=True, special=True)
    from ftspec.providers.local import models

    base_model = provider.manifest(model_id)["base_model"]
    assert ids == models.load_tokenizer(base_model)(prompt)["input_ids"]  # the GGUF vocabulary tokenises as training did
    adapted.eval(ids)
    got = np.array(adapted.scores[: len(ids)])
    with torch.no_grad():
        trained = provider.engine(model_id).model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
        plain = provider.engine(base_model).model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
    effect, error = np.abs(trained - plain).max(), np.abs(trained - got).max()
    assert error < effect / 10, (error, effect)  # llama.cpp + adapter computes the trained model
    adapted.close()


def test_export_errors_are_one_line(trained, tmp_path, capsys):
    _, model_id, spec = trained
    code, _, err = run_cli(["export", str(spec), "--model", "ft:tiny:local:x:ftjob-missing", "--out", str(tmp_path / "x")], capsys)
    assert code == 1 and err.startswith("error: local model not found: ft:tiny:local:x:ftjob-missing")
    bare = tmp_path / "bare.yaml"
    bare.write_text(spec.read_text().replace("provider: local", "provider: openai"), encoding="utf-8")
    code, _, err = run_cli(["export", str(bare), "--model", "m"], capsys)
    assert code == 1 and err.strip() == f"error: {bare}: export needs provider 'local' (this spec uses 'openai')"
    nolock = tmp_path / "nolock.yaml"
    shutil.copy(spec, nolock)
    code, _, err = run_cli(["export", str(nolock)], capsys)
    assert code == 1 and err.strip() == f"error: {tmp_path / 'nolock.lock'}: no model yet; run: ftspec build {nolock}"
    code, _, err = run_cli(["export", str(spec), "--format", "ggufl", "--model", model_id], capsys)
    assert code == 1 and err.strip() == ("error: unknown export format 'ggufl' (did you mean 'gguf-lora'?); "
                                         "known: gguf-lora, merged, ollama, peft")
    code, _, err = run_cli(["export", str(spec), "--format", "gguf-lora", "--model", model_id,
                            "--out", str(tmp_path / "g")], capsys)
    assert code == 1 and err.strip().startswith("error: gguf-lora needs the base model as GGUF, and ")
    assert err.strip().endswith("pass --base-gguf FILE (llama.cpp's convert_hf_to_gguf.py makes one)")
    code, _, err = run_cli(["export", str(spec), "--format", "gguf-lora", "--model", model_id,
                            "--out", str(tmp_path / "g"), "--base-gguf", str(spec)], capsys)
    assert code == 1 and err.strip().startswith(f"error: {spec}: not a readable GGUF file")
    assert not (tmp_path / "g").exists()  # nothing half-written
    fresh = tmp_path / "fresh"
    (fresh / "specs").mkdir(parents=True)
    (fresh / ".ftspec").mkdir()
    copy = fresh / "specs" / "tiny.yaml"
    shutil.copy(spec, copy)
    code, _, err = run_cli(["export", str(copy), "--format", "peft", "--model", model_id, "--check",
                            "--out", str(tmp_path / "c")], capsys)
    assert code == 1 and err.strip() == (f"error: {fresh.resolve() / 'reports' / 'tiny' / 'smoke.json'}: "
                                         f"no eval report to compare with; run: ftspec eval {copy}")


GO_RENDER = """package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type Message struct{ Role, Content string }

func main() {
	var req struct {
		Template string
		Cases    [][]Message
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		panic(err)
	}
	tmpl := template.Must(template.New("t").Parse(req.Template))
	out := []string{}
	for _, messages := range req.Cases {
		var b []byte
		w := &buffer{&b}
		if err := tmpl.Execute(w, struct{ Messages []Message }{messages}); err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

type buffer struct{ b *[]byte }

func (w *buffer) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
"""


@pytest.mark.parametrize("fmt", [GEMMA, ChatFormat("chatml", "<|im_end|>", 'You are "Smol", a helper\\.')],
                         ids=["gemma-turns", "chatml"])
def test_ollama_template_renders_the_training_format_under_go(tmp_path, fmt):
    """The Modelfile TEMPLATE through Go's text/template (the engine Ollama uses) over Ollama's
    .Messages gives exactly the prompt training used, for each chat format."""
    import subprocess

    go = shutil.which("go")
    if go is None:
        print("skipped: no Go toolchain to run text/template (apt-get install golang-go)")
        pytest.skip("no Go toolchain to run text/template")
    conversations = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Yo"}, {"role": "user", "content": "again\nplease"}],
        [{"role": "system", "content": "A"}, {"role": "developer", "content": "B"}, {"role": "user", "content": "q"}],
        [{"role": "system", "content": "only a system prompt"}],
        [{"role": "user", "content": "tool?"}, {"role": "tool", "content": "{\"ok\": 1}"}],
    ]
    (tmp_path / "main.go").write_text(GO_RENDER)
    payload = json.dumps({"Template": fmt.ollama,
                          "Cases": [[{"Role": m["role"], "Content": m["content"]} for m in c] for c in conversations]})
    env = {**__import__("os").environ, "GOCACHE": str(tmp_path / "gocache"), "GO111MODULE": "off"}
    done = subprocess.run([go, "run", str(tmp_path / "main.go")], input=payload, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [fmt.prompt(c) for c in conversations]
