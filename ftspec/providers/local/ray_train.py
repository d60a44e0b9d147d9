"""The Ray job of ``executor: {ray: ...}``: the entrypoint the cluster runs, and the training loop
each Ray Train worker runs.

``python -m ftspec.providers.local.ray_train`` runs as the Ray job's driver, in the job's
``working_dir`` (uploaded by the submission: ``job.json``, ``train.jsonl``, ``valid.jsonl``).
It starts a ``TorchTrainer`` of ``num_workers`` workers; each runs ``train_loop``, which is the
local trainer (``train.train``) with a ``DataParallel`` over the process group Ray Train set up
(gloo on CPU, nccl on GPU): gradients summed once per optimizer step, so the global batch,
learning rate and packing are those of one process. Rank 0 prints one ``FTSPEC_EVENT {json}``
line per event to stdout (Ray forwards it to the job's logs, which the client reads) and saves
checkpoints (every ``checkpoint_every`` optimizer steps) that a restarted worker
group resumes from (``FailureConfig(max_failures)``). The adapter and ``result.json`` go into
the last checkpoint, in Ray Train's storage path; the driver prints ``FTSPEC_RESULT {json}``
naming it, and the client fetches it into the model store.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EVENT = "FTSPEC_EVENT "
RESULT = "FTSPEC_RESULT "
STATE_FILE = "state.pt"


def emit(level: str, message: str, **data: Any) -> None:
    print(EVENT + json.dumps({"level": level, "message": message, "data": data, "t": time.time()}), flush=True)


def tree_sha256(folder: Path) -> str:
    """sha256 over (relative path, file sha256) of every file, sorted: the fetched copy is checked."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def _data_parallel(device: str):
    import torch
    import torch.distributed as dist

    from ftspec.providers.local.train import DataParallel

    def all_sum(values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def sync_grads(params: list[Any]) -> None:
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce per step, as DDP's buckets
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    return DataParallel(rank=dist.get_rank(), world_size=dist.get_world_size(), all_sum=all_sum, sync_grads=sync_grads)


def _load_resume(device: str) -> dict[str, Any] | None:
    import ray.train
    import torch

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=False)


def _report(metrics: dict[str, Any], rank: int, write) -> None:
    """Every rank reports (Ray Train's barrier); rank 0 alone writes and attaches the checkpoint."""
    import ray.train

    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        write(Path(folder))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: the local trainer over this rank's share of each batch."""
    import torch

    from ftspec.providers.local import models
    from ftspec.providers.local.chat_format import RecordEncoder
    from ftspec.providers.local.train import TrainConfig, add_lora, train, truncate
    from ftspec.providers.local.worker import read_records

    base = config["job"]["request"]["model"]
    cfg = TrainConfig(**config["train_config"])
    device = "cpu"
    if config["use_gpu"]:
        import ray.train.torch

        device = str(ray.train.torch.get_device())
    dp = _data_parallel(device)
    rank0 = dp.rank == 0
    folder = Path(config["working_dir"])
    train_records = read_records(folder / "train.jsonl", "training")
    valid_records = read_records(folder / "valid.jsonl", "validation") if (folder / "valid.jsonl").exists() else []
    torch.manual_seed(cfg.seed)
    tokenizer = models.load_tokenizer(base)
    encoder = RecordEncoder(tokenizer)
    train_set, _ = truncate(encoder.encode(train_records), cfg.max_seq_len)
    valid_set, _ = truncate(encoder.encode(valid_records), cfg.max_seq_len)
    cfg.bf16_autocast = models.bf16_autocast_ok(device)
    model = add_lora(models.load_base_model(base, device, dtype=torch.float32), cfg)
    resume = _load_resume(device)
    if rank0:
        where = f"resumed from the checkpoint at step {resume['step']}" if resume else "starting"
        emit("info", f"{where}: {dp.world_size} Ray Train workers on {device}", resumed_step=resume["step"] if resume else None,
             world_size=dp.world_size, device=device)

    def on_metrics(kind: str, data: dict[str, Any]) -> None:
        if not rank0:
            return
        parts = [f"step {data['step']}/{data['total_steps']}"]
        parts += [f"{k}={data[k]:.4f}" for k in ("train_loss", "valid_loss") if data.get(k) is not None]
        emit("info", ", ".join(parts), _metrics=True, device=device, world_size=dp.world_size, **data)

    every = int(config["checkpoint_every"])

    def save_state(snapshot) -> None:
        state = snapshot()
        _report({"step": state["step"]}, dp.rank, lambda out: torch.save(state, out / STATE_FILE))
        if rank0:
            emit("info", f"checkpoint saved at step {state['step']}", checkpoint_step=state["step"])

    def on_step_end(step: int, snapshot) -> None:
        if every and step % every == 0:
            save_state(snapshot)

    result = train(model, train_set, valid_set, cfg, pad_id=tokenizer.pad_token_id or 0, device=device,
                   emit=on_metrics, data_parallel=dp, resume=resume, on_step_end=on_step_end)

    def write_final(out: Path) -> None:
        model.save_pretrained(out / "adapter")
        metrics = {
            "steps": result.steps, "trained_tokens": result.trained_tokens,
            "first_train_loss": result.first_train_loss, "train_loss": result.train_loss,
            "valid_loss": result.valid_loss, "tokens_per_s": round(result.tokens_per_s, 1),
            "elapsed_s": round(result.elapsed_s, 2),
        }
        (out / "result.json").write_text(json.dumps({
            "metrics": metrics, "hyperparameters": cfg.to_json(), "device": device,
            "world_size": dp.world_size, "adapter_sha256": tree_sha256(out / "adapter"),
        }))

    _report({"step": result.steps, "final": 1}, dp.rank, write_final)


def _storage_relative(path: str, storage_path: str) -> str:
    """The checkpoint's path below the storage path (pyarrow strips ``s3://`` from its paths)."""
    stripped = storage_path.split("://", 1)[-1].rstrip("/")
    if not path.startswith(stripped):
        raise RuntimeError(f"checkpoint {path} is not under the storage path {storage_path}")
    return path[len(stripped):].lstrip("/")


def main() -> int:
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    from ftspec.providers.local.worker import read_records, train_config

    folder = Path.cwd()
    spec = json.loads((folder / "job.json").read_text())
    job, ray_settings = spec["job"], spec["ray"]
    emit("info", "validating training file")
    n_train = len(read_records(folder / "train.jsonl", "training"))
    cfg, hp = train_config(job, n_train)
    emit("info", f"files validated: {n_train} training examples; starting {ray_settings['num_workers']} Ray Train workers",
         status="running", hyperparameters={k: hp[k] for k in ("n_epochs", "batch_size", "learning_rate_multiplier")})
    use_gpu = bool(ray_settings.get("use_gpu"))
    trainer = TorchTrainer(
        train_loop,
        train_loop_config={
            "job": job, "train_config": {k: v for k, v in cfg.to_json().items() if k != "learning_rate"},
            "use_gpu": use_gpu, "checkpoint_every": ray_settings["checkpoint_every"], "working_dir": str(folder),
        },
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(num_workers=ray_settings["num_workers"], use_gpu=use_gpu,
                                               resources_per_worker={"CPU": 1, **({"GPU": 1} if use_gpu else {})}),
        run_config=ray.train.RunConfig(
            name=ray_settings["run_name"], storage_path=ray_settings["storage_path"],
            failure_config=ray.train.FailureConfig(max_failures=ray_settings["max_failures"]),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError("Ray Train finished without a checkpoint")
    rel = _storage_relative(result.checkpoint.path, ray_settings["storage_path"])
    print(RESULT + json.dumps({"checkpoint": rel}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
