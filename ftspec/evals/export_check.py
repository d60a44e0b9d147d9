"""``ftspec export ... --check``: does the exported artifact answer as the trained model did?

The spec's eval cases run greedily through the export itself, loaded the way its users load it:
transformers (+ peft) from the export folder, with the folder's own chat template and
``generation_config.json`` end tokens, for ``peft``/``merged``; llama.cpp (llama-cpp-python) with
the base GGUF, the adapter GGUF and the folder's ``chat_template.jinja`` for ``gguf-lora`` and
``ollama``. The answers are scored by the spec's own scorers and compared with the trained
model's answers in the eval report (``reports/<spec>/<eval>.json``): identical texts, per-case
similarity (character-level ``difflib`` ratio) and both pass rates, side by side.

The check fails when the export's chat template renders a case differently from training, when
its stops miss the training turn end (an answer that runs on into a new turn), when a format's
own files disagree with training (e.g. the Modelfile's TEMPLATE), or when the export's pass rate
is more than ``tolerance`` below the trained model's; the first differing case is shown.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import time
from pathlib import Path
from typing import Any

from ftspec.errors import EvalError
from ftspec.evals.runner import EvalRun, case_row, clean_output, report_paths
from ftspec.providers.base import ChatRequest, ChatResult

DEFAULT_TOLERANCE = 0.05
TURN_MARKERS = ("<start_of_turn>", "<end_of_turn>")


# ---- runtimes: the export loaded as its users load it -----------------------------------------


class TransformersRuntime:
    """A peft or merged export folder through transformers, on the device the provider uses."""

    def __init__(self, folder: Path, record: dict[str, Any], provider) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        from ftspec.providers.local import models
        from ftspec.providers.local.generate import Engine

        models.quiet_libraries()
        device = models.pick_device(provider.device)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.base_model = record["base_model"]
        if not self.tokenizer.chat_template:
            raise EvalError(f"{folder}: the tokenizer has no chat template (chat_template.jinja)")
        if (folder / "adapter_config.json").is_file():
            from peft import PeftModel

            base = models.load_base_model(record["base_model"], device)
            model: Any = PeftModel.from_pretrained(base, folder)
        else:
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=models.pick_dtype(device))
            model = model.to(device)
        model.eval()
        ends = GenerationConfig.from_pretrained(folder).eos_token_id
        self.end_ids = [ends] if isinstance(ends, int) else list(ends or [])
        runtime = self

        class ExportEngine(Engine):
            def prompt_text(self, request: ChatRequest) -> str:
                return runtime.render(request.messages) if request.messages is not None else request.prompt or ""

            def stop_ids(self) -> list[int]:
                return list(runtime.end_ids)

        self.engine = ExportEngine(model, self.tokenizer, device)

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The prompt text as transformers/vLLM render it, without the BOS text (the tokenizer
        call adds the BOS token, as vLLM's tokenisation of the rendered text does)."""
        text = str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        bos = self.tokenizer.bos_token or ""
        return text[len(bos):] if bos and text.startswith(bos) else text

    def end_problems(self) -> list[str]:
        from ftspec.providers.local import models

        ids = {self.tokenizer.convert_tokens_to_ids(s): s for s in models.chat_format(self.base_model).stops}
        return [f"generation_config.json: eos_token_id {self.end_ids} lacks {text!r} (id {i}), "
                "the turn end training taught" for i, text in ids.items() if i not in self.end_ids]

    def generate(self, requests: list[ChatRequest]) -> list[ChatResult]:
        from ftspec.providers.local.generate import generate_batched

        return generate_batched(self.engine, requests)

    def close(self) -> None:
        pass


class LlamaCppRuntime:
    """A GGUF adapter on its GGUF base through llama.cpp (llama-cpp-python), greedy, no repeat
    penalty (llama-cpp-python's default 1.1 is not what training or the evals used)."""

    def __init__(self, folder: Path, record: dict[str, Any], provider) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise EvalError("--check of a GGUF export needs llama-cpp-python: pip install 'ftspec[llamacpp]'") from None
        from ftspec.providers.local.exports.gguf_lora import read_base

        base = Path(record["base_gguf"]["path"])
        base = base if base.is_absolute() else folder / base
        adapter = folder / record["artifact"]
        template = folder / "chat_template.jinja"
        for path in (base, adapter, template):
            if not path.is_file():
                raise EvalError(f"{path}: missing (the export at {folder} is incomplete)")
        self.template = template.read_text(encoding="utf-8")
        self.stops = list(record.get("stops") or [])
        self.base_model = record["base_model"]
        arch, _, _ = read_base(base)
        from gguf import GGUFReader

        field = GGUFReader(base).get_field(f"{arch}.context_length")
        n_ctx = min(4096, int(field.contents())) if field is not None else 2048
        self.llm = Llama(model_path=str(base), lora_path=str(adapter), n_ctx=n_ctx, verbose=False, seed=0)
        if not self.llm._lora_adapter:  # llama-cpp-python misses a failed load (a NULL pointer)
            raise EvalError(f"llama.cpp did not load the adapter {adapter} onto {base} "
                            "(wrong base or tensor shapes); the export would answer as the base model")

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The prompt as llama-server --jinja renders it; the BOS text is left to llama.cpp."""
        from ftspec.providers.local.chat_format import render_jinja_template

        return render_jinja_template(self.template, messages, bos_token="")

    def end_problems(self) -> list[str]:
        from ftspec.providers.local import models

        return [f"export.json: stops {self.stops} lack {s!r}, the turn end training taught"
                for s in models.chat_format(self.base_model).stops if s not in self.stops]

    def generate(self, requests: list[ChatRequest]) -> list[ChatResult]:
        """Greedy, token by token: ends at an end token (EOS or a stop that is one token), then cut
        at the first stop string; bytes are decoded as transformers decodes them (an incomplete
        UTF-8 sequence becomes U+FFFD rather than vanishing), so equal tokens give equal text."""
        out = []
        for request in requests:
            prompt = self.render(request.messages) if request.messages is not None else request.prompt or ""
            stops = list(dict.fromkeys(self.stops + list(request.stop or [])))
            ends = {self.llm.token_eos()} | {ids[0] for ids in (self.llm.tokenize(s.encode(), add_bos=False, special=True)
                                                                 for s in self.stops) if len(ids) == 1}
            started = time.perf_counter()
            ids = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            generated: list[int] = []
            reason = "length"
            for token in self.llm.generate(ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                                           frequency_penalty=request.frequency_penalty or 0.0,
                                           presence_penalty=request.presence_penalty or 0.0):
                if token in ends:
                    reason = "stop"
                    break
                generated.append(token)
                if len(generated) >= (request.max_tokens or 256):
                    break
            text = self.llm.detokenize(generated).decode("utf-8", errors="replace")
            for stop in stops:
                if stop and stop in text:
                    text, reason = text.split(stop, 1)[0], "stop"
            out.append(ChatResult(choices=[text], prompt_tokens=len(ids), completion_tokens=len(generated),
                                  latency_s=time.perf_counter() - started, finish_reasons=[reason]))
        return out

    def close(self) -> None:
        self.llm.close()


RUNTIMES: dict[str, type[TransformersRuntime] | type[LlamaCppRuntime]] = {
    "transformers": TransformersRuntime, "llama.cpp": LlamaCppRuntime}


# ---- the eval through the export ---------------------------------------------------------------


class _ExportEval(EvalRun):
    """The spec's eval set with every case generated greedily by the export; nothing is written."""

    def __init__(self, spec, name: str, model_id: str, provider, project_root: Path, runtime) -> None:
        super().__init__(spec, name, model_id, provider, project_root=project_root)
        self.runtime = runtime
        self.requests: list[tuple[str, str, ChatRequest]] = []

    def _plan(self, cases):
        runs = [r for r in super()._plan(cases) if r.role == "model" and not r.recorded]
        for run in runs:
            run.request = dataclasses.replace(run.request, temperature=0.0, top_p=None, n=1)
            self.requests.append((run.case.id, run.variant.label, run.request))
        return runs

    def _generate(self, generator, runs) -> None:
        for run, result in zip(runs, self.runtime.generate([r.request for r in runs]), strict=True):
            run.result = result
            run.outputs = [clean_output(text, run.request.stop or []) for text in result.choices]

    def _write(self, cases, scorers, runs) -> dict[str, Any]:
        weights = {label: s.weight for label, s in scorers}
        by_case: dict[str, list] = {}
        for run in runs:
            by_case.setdefault(run.case.id, []).append(run)
        return {"cases": [case_row(c, by_case.get(c.id, []), weights) for c in cases]}


def load_report(project_root: Path, spec, eval_name: str, model_id: str) -> dict[str, Any]:
    path, _ = report_paths(project_root, spec.name, eval_name)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no eval report to compare with; run: ftspec eval {spec.path}") from None
    except json.JSONDecodeError as exc:
        raise EvalError(f"{path}:{exc.lineno}:{exc.colno}: eval report is not valid JSON: {exc.msg}") from None
    if report.get("model") != model_id:
        raise EvalError(f"{path}: the report is for model {report.get('model')}, not the exported {model_id}; "
                        f"run: ftspec eval {spec.path}")
    return report


def similarity(a: str, b: str) -> float:
    return 1.0 if a == b else round(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(), 4)


def _first_difference(expected: str, got: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(expected, got, strict=False)) if x != y), min(len(expected), len(got)))
    lo = max(0, at - 30)
    return f"at character {at}: training {expected[lo:at + 40]!r}, export {got[lo:at + 40]!r}"


def check_export(spec, folder: Path, record: dict[str, Any], provider, *, project_root: Path,
                 tolerance: float = DEFAULT_TOLERANCE, eval_names: list[str] | None = None) -> dict[str, Any]:
    """Run every eval set (or ``eval_names``) through the export in ``folder``; the comparison
    with the trained model per set, and ``passed`` plus ``problems`` (first differing case first)."""
    from ftspec.providers.local import models
    from ftspec.providers.local.exports import EXPORTS

    fmt = EXPORTS.get(record["format"])
    names = eval_names or [ev["name"] for ev in spec.evals]
    if not names:
        raise EvalError(f"{spec.path}: the spec has no evals: --check compares the export on the eval cases")
    reports = {name: load_report(project_root, spec, name, record["model"]) for name in names}
    problems = list(fmt().problems(folder, record))
    runtime: TransformersRuntime | LlamaCppRuntime = RUNTIMES[fmt.runtime](folder, record, provider)
    try:
        problems += runtime.end_problems()
        sets = []
        for name in names:
            run = _ExportEval(spec, name, record["model"], provider, project_root, runtime)
            exported = run.run()["cases"]
            for case_id, _, request in run.requests:  # the export's template against training's
                if request.messages is not None:
                    want = models.chat_format(record["base_model"]).prompt(request.messages)
                    got = runtime.render(request.messages)
                    if want != got:
                        problems.append(f"eval '{name}' case '{case_id}': the export's chat template renders "
                                        f"the prompt differently ({_first_difference(want, got)})")
                        break
            sets.append(_compare(name, reports[name], exported, tolerance, problems))
    finally:
        runtime.close()
    return {"format": record["format"], "runtime": fmt.runtime, "folder": str(folder), "sets": sets,
            "tolerance": tolerance, "problems": problems, "passed": not problems}


def _compare(name: str, report: dict[str, Any], exported: list[dict[str, Any]], tolerance: float,
             problems: list[str]) -> dict[str, Any]:
    from ftspec.evals.parity import parity
    from ftspec.evals.sampling import variants

    points = [v.sampling for v in variants({"sampling": report.get("sampling"), "matrix": report.get("matrix")})]
    sampled = any(float(1.0 if p.get("temperature") is None else p["temperature"]) > 0 or int(p.get("n", 1)) > 1
                  for p in points)
    trained_by = {(c["id"], r.get("variant")): r for c in report["cases"] for r in c.get("results") or []}
    rows = []
    for case in exported:
        for result in case["results"]:
            trained = trained_by.get((case["id"], result["variant"]))
            if trained is None:
                continue
            want = (trained.get("outputs") or [""])[0]
            got = (result.get("outputs") or [""])[0]
            rows.append({"id": case["id"], "variant": result["variant"], "trained": want, "exported": got,
                         "identical": want == got, "similarity": similarity(want, got),
                         "trained_status": trained["status"], "exported_status": result["status"]})
            leaked = next((m for m in TURN_MARKERS if m in got), None)
            if leaked and not any(p.startswith(f"eval '{name}' case") for p in problems):
                problems.append(f"eval '{name}' case '{case['id']}': the export's answer runs past the turn end "
                                f"({leaked!r} in {got[:120]!r}): a missing stop token")
    compared = parity(report["cases"], exported, tolerance=tolerance)
    summary = {
        "eval": name, "compared": len(rows), "identical": sum(r["identical"] for r in rows),
        "mean_similarity": round(sum(r["similarity"] for r in rows) / len(rows), 4) if rows else None,
        "trained": compared["old"], "exported": compared["new"], "worse": compared["worse"],
        "sampled": sampled, "rows": rows,
    }
    if compared["new"]["pass_rate"] < compared["old"]["pass_rate"] - tolerance:
        first = next((r for r in rows if r["id"] in compared["worse"]), None)
        shown = f"; first: case '{first['id']}': trained {first['trained'][:80]!r}, export {first['exported'][:80]!r}" if first else ""
        problems.append(f"eval '{name}': the export passes {compared['new']['pass_rate']:.1%}, the trained model "
                        f"{compared['old']['pass_rate']:.1%} (more than {tolerance:.0%} lower){shown}")
    return summary


def format_check(result: dict[str, Any], *, show_cases: bool = True) -> list[str]:
    """The lines ``ftspec export --check`` prints."""
    lines = [f"check: {result['format']} export through {result['runtime']} vs the trained model"]
    for s in result["sets"]:
        if show_cases:
            for r in s["rows"]:
                mark = "=" if r["identical"] else "~"
                lines.append(f"  {s['eval']}/{r['id']}{'' if r['variant'] == 'default' else ' [' + r['variant'] + ']'}: "
                             f"{mark} similarity {r['similarity']:.3f}  trained {r['trained_status']}, "
                             f"export {r['exported_status']}")
        sim = "n/a" if s["mean_similarity"] is None else f"{s['mean_similarity']:.3f}"
        lines.append(f"eval '{s['eval']}': identical {s['identical']}/{s['compared']}, mean similarity {sim}; "
                     f"pass rate trained {s['trained']['pass_rate']:.1%} | export {s['exported']['pass_rate']:.1%}")
        if s["sampled"]:
            lines.append(f"  note: eval '{s['eval']}' samples (temperature > 0 or n > 1): the trained answers "
                         "are samples, the export's greedy, so identical text is not expected")
    lines.append("check passed" if result["passed"] else "check FAILED")
    return lines
