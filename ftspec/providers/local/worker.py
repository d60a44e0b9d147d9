"""The background process that runs one local training job.

Started detached (``start_new_session``) by ``LocalProvider.create_job`` as
``python -m ftspec.providers.local.worker STORE JOB_ID``, so it outlives the ``ftspec`` that
started it. It owns the job's status until it exits: validating_files -> queued (waiting for
the store's training lock: one training at a time per machine) -> running -> succeeded |
failed | cancelled. If it dies without writing a final status (SIGKILL, OOM), the provider
notices the dead pid on the next ``get_job`` and marks the job failed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ftspec.providers.local.store import Store


class Cancelled(Exception):
    pass


class InvalidFile(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _on_sigterm(signum, frame) -> None:
    raise Cancelled()


def read_records(path: Path, label: str, method: str = "supervised") -> list[dict[str, Any]]:
    """Parse a training/validation JSONL file; the first bad line fails the job, located."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidFile(f"invalid_{label}_file", f"{label} file line {n}: invalid JSON: {exc.msg}") from None
            if method == "dpo":
                from ftspec.data.preference import shape_problem

                problem = shape_problem(record)
                if problem:
                    raise InvalidFile(f"invalid_{label}_file", f"{label} file line {n}: {problem}")
            elif not isinstance(record, dict) or not (
                isinstance(record.get("messages"), list) or "prompt" in record
            ):
                raise InvalidFile(f"invalid_{label}_file", f"{label} file line {n}: expected 'messages' or 'prompt'/'completion'")
            records.append(record)
    if not records:
        raise InvalidFile(f"invalid_{label}_file", f"{label} file has no examples")
    return records


def resolve_hyperparameters(hp: dict[str, Any], n_examples: int) -> dict[str, Any]:
    """Values arrive resolved from the build graph; "auto" is resolved here by the same rule."""
    from ftspec.data.plan import auto_batch_size, auto_epochs

    out = dict(hp)
    if out.get("n_epochs", "auto") == "auto":
        out["n_epochs"] = auto_epochs(n_examples)
    if out.get("batch_size", "auto") == "auto":
        out["batch_size"] = auto_batch_size(n_examples)
    if out.get("learning_rate_multiplier", "auto") == "auto":
        out["learning_rate_multiplier"] = 1.0
    return out


def train_config(job: dict[str, Any], n_examples: int):
    from ftspec.providers.local.train import TrainConfig

    request = job["request"]
    hp = resolve_hyperparameters(request.get("hyperparameters") or {}, n_examples)
    extras = dict(request.get("extras") or {})
    if isinstance(extras.get("hyperparameters"), dict):  # the build graph nests hyperparameters.local
        extras = {**extras, **extras["hyperparameters"]}
    seed = request.get("seed")
    if seed is None:
        seed = extras.get("seed", 0)
    known = {"lora_r", "lora_alpha", "lora_dropout", "target_modules", "max_seq_len",
             "gradient_accumulation", "packing", "base_learning_rate"}  # hyperparameters.local
    cfg = TrainConfig(
        n_epochs=int(hp["n_epochs"]),
        batch_size=int(hp["batch_size"]),
        learning_rate_multiplier=float(hp["learning_rate_multiplier"]),
        seed=int(seed),
        **{k: v for k, v in extras.items() if k in known},
    )
    return cfg, hp


class Worker:
    def __init__(self, store: Store, job_id: str) -> None:
        self.store, self.job_id = store, job_id

    def event(self, message: str, level: str = "info", **data: Any) -> None:
        self.store.append_event(self.job_id, level, message, type="metrics" if data.get("_metrics") else "message",
                                data={k: v for k, v in data.items() if k != "_metrics"})

    def status(self, status: str, **fields: Any) -> dict[str, Any]:
        job = self.store.update_job(self.job_id, status=status, **fields)
        return job

    def cancel_requested(self) -> bool:
        return bool(self.store.read_job(self.job_id).get("cancel_requested"))

    def run(self) -> int:
        signal.signal(signal.SIGTERM, _on_sigterm)
        self.store.update_job(self.job_id, pid=os.getpid())
        try:
            self._run()
        except Cancelled:
            self._finish("cancelled", None, "job cancelled")
        except InvalidFile as exc:
            self._finish("failed", {"code": exc.code, "message": str(exc), "param": None}, str(exc))
        except Exception as exc:  # noqa: BLE001 - any crash becomes the job's error
            traceback.print_exc()
            message = f"{type(exc).__name__}: {exc}"
            self._finish("failed", {"code": "training_error", "message": message, "param": None}, message)
            return 1
        return 0

    def _finish(self, status: str, error: dict[str, Any] | None, message: str) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # never interrupt the final write
        self.event(message, "error" if status == "failed" else "info")
        self.status(status, error=error, finished_at=int(time.time()))

    def _run(self) -> None:
        from filelock import FileLock

        job = self.store.read_job(self.job_id)
        request = job["request"]
        self.event("validating training file")
        method = request.get("method", "supervised")
        train_records = read_records(self.store.file_path(request["training_file"]), "training", method)
        valid_records = (
            read_records(self.store.file_path(request["validation_file"]), "validation", method)
            if request.get("validation_file") else []
        )
        cfg, hp = train_config(job, len(train_records))
        shown = ("n_epochs", "batch_size", "learning_rate_multiplier") + (("beta",) if method == "dpo" else ())
        self.status("queued", hyperparameters={k: hp[k] for k in shown if k in hp})
        self.event(f"files validated: {len(train_records)} training, {len(valid_records)} validation examples; waiting for the trainer")
        with FileLock(str(self.store.root / "train.lock")):
            if self.cancel_requested():
                raise Cancelled()
            self.status("running")
            self._train(job, cfg, train_records, valid_records)

    def _train(self, job, cfg, train_records, valid_records) -> None:
        import torch

        from ftspec.providers.local import models
        from ftspec.providers.local.chat_format import RecordEncoder
        from ftspec.providers.local.train import Stop, add_lora, continue_lora, train, truncate

        request = job["request"]
        device = models.pick_device(job.get("device") or "auto")
        torch.manual_seed(cfg.seed)
        self.event(f"loading base model {request['model']} on {device}", device=device)
        tokenizer = models.load_tokenizer(request["model"])
        encoder = RecordEncoder(tokenizer)
        run = train
        if request.get("method") == "dpo":
            from ftspec.providers.local import dpo

            train_set, cut = dpo.encode_pairs(encoder, train_records, cfg.max_seq_len)
            valid_set, vcut = dpo.encode_pairs(encoder, valid_records, cfg.max_seq_len)
            beta = (request.get("hyperparameters") or {}).get("beta", dpo.DEFAULT_BETA)
            run = functools.partial(dpo.train_dpo, beta=float(dpo.DEFAULT_BETA if beta == "auto" else beta))
            trainable_sets = [p.chosen for p in train_set]
        else:
            train_set, cut = truncate(encoder.encode(train_records), cfg.max_seq_len)
            valid_set, vcut = truncate(encoder.encode(valid_records), cfg.max_seq_len)
            trainable_sets = train_set
        if cut or vcut:
            self.event(f"{cut + vcut} examples longer than max_seq_len={cfg.max_seq_len} were truncated", "warn")
        if not any(e.n_targets for e in trainable_sets):
            raise InvalidFile("invalid_training_file", "training file has no trainable tokens (every assistant message has weight 0?)")
        cfg.bf16_autocast = models.bf16_autocast_ok(device)
        base = models.load_base_model(request["model"], device, dtype=torch.float32)
        parent = request.get("continue_from")
        if parent:  # continued training: the parent's adapter is the starting point, trained further
            model, kept = continue_lora(base, parent["adapter"], cfg)
            self.event(f"continuing from {parent['model']}'s adapter" + (
                f"; its LoRA shape is kept ({', '.join(kept)} from the parent, not this spec)" if kept else ""),
                "warn" if kept else "info")
        else:
            model = add_lora(base, cfg)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total_steps = math.ceil(math.ceil(len(train_set) / cfg.batch_size) / cfg.gradient_accumulation) * cfg.n_epochs
        self.event(
            f"training on {device}: {len(train_set)} examples, {cfg.n_epochs} epochs, {total_steps} steps, "
            f"LoRA r={cfg.lora_r} ({trainable} trainable parameters), lr={cfg.learning_rate:g}, "
            f"{'bf16 autocast' if cfg.bf16_autocast else 'fp32'}",
            device=device, precision="bf16-autocast" if cfg.bf16_autocast else "fp32", total_steps=total_steps, trainable_parameters=trainable,
        )
        checkpoints = self.store.job_dir(self.job_id) / "checkpoints"

        def emit(kind: str, data: dict[str, Any]) -> None:
            if kind == "reference":  # DPO: the frozen base's log-probs, computed once
                self.event(f"reference log-probs of {data['pairs']} pairs cached ({data['tokens']} tokens, "
                           f"{data['elapsed_s']}s)", **data)
                return
            parts = [f"step {data['step']}/{data['total_steps']}"]
            for key in ("train_loss", "valid_loss"):
                if data.get(key) is not None:
                    parts.append(f"{key}={data[key]:.4f}")
            self.event(", ".join(parts), _metrics=True, device=device, **data)
            if data.get("elapsed_s") and data["step"]:
                left = data["elapsed_s"] / data["step"] * (data["total_steps"] - data["step"])
                self.store.update_job(self.job_id, estimated_finish=int(time.time() + left))

        def on_epoch_end(epoch: int, peft_model) -> None:
            peft_model.save_pretrained(checkpoints / f"epoch-{epoch}")
            self.event(f"epoch {epoch} checkpoint saved")

        try:
            result = run(
                model, train_set, valid_set, cfg, pad_id=tokenizer.pad_token_id or 0, device=device,
                emit=emit, on_epoch_end=on_epoch_end, should_stop=self.cancel_requested,
            )
        except Stop:
            raise Cancelled() from None
        self._save_model(job, model, cfg, result, device)

    def _save_model(self, job, model, cfg, result, device: str) -> None:
        model.save_pretrained(self.store.model_dir(self.job_id) / "adapter")
        metrics = {
            "steps": result.steps, "trained_tokens": result.trained_tokens,
            "first_train_loss": result.first_train_loss, "train_loss": result.train_loss,
            "valid_loss": result.valid_loss, "tokens_per_s": round(result.tokens_per_s, 1),
            "elapsed_s": round(result.elapsed_s, 2),
        }
        model_id = write_manifest(self.store, self.job_id, job, cfg.to_json(), metrics, device)
        self.event(f"model {model_id} saved", model=model_id)
        self.status("succeeded", fine_tuned_model=model_id, trained_tokens=result.trained_tokens,
                    finished_at=int(time.time()), error=None)


def write_manifest(store: Store, job_id: str, job: dict[str, Any], hyperparameters: dict[str, Any],
                   metrics: dict[str, Any], device: str, **extra: Any) -> str:
    """``models/<job>/manifest.json`` beside the saved adapter; returns the model id."""
    from ftspec.providers.local import models
    from ftspec.util import atomic_write_json

    request = job["request"]
    ref = models.resolve_base(request["model"])
    suffix = request.get("suffix") or ""
    model_id = f"ft:{ref.name}:local:{suffix}:{job_id}"
    train_file = store.file_meta(request["training_file"]) or {}
    valid_file = store.file_meta(request["validation_file"]) if request.get("validation_file") else None
    manifest = {
        "model": model_id, "job": job_id, "base_model": request["model"],
        "parent_model": (request.get("continue_from") or {}).get("model"),
        "base": models.describe(request["model"]),
        "training_file": {"id": request["training_file"], "sha256": train_file.get("sha256")},
        "validation_file": ({"id": request["validation_file"], "sha256": valid_file.get("sha256")}
                            if valid_file else None),
        "hyperparameters": hyperparameters, "device": device, "method": request.get("method", "supervised"),
        "metrics": metrics, "created_at": int(time.time()),
        "software": {"python": platform.python_version(), **_versions()},
        **extra,
    }
    atomic_write_json(store.model_dir(job_id) / "manifest.json", manifest)
    return model_id


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("torch", "transformers", "peft"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    store, job_id = Store(Path(args[0])), args[1]
    return Worker(store, job_id).run()


if __name__ == "__main__":
    sys.exit(main())
