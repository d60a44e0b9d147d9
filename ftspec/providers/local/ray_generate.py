"""The Ray job that spreads a large batch of generations over a cluster (evals at scale).

``python -m ftspec.providers.local.ray_generate`` runs as the Ray job's driver in its
``working_dir`` (``generate.json``: the base model, the requests, the ``generate`` calls planned
by ``generate.plan_batches``; ``adapter/``: the fine-tuned LoRA adapter). It starts
``num_workers`` actors, each holding the model once, and sends them the planned calls round
robin: every call is the one ``generate_batched`` would make in one process, so the answers
(and the eval cache entries made from them) are the same. The results go to
``<storage_path>/<run name>/generations.json``; ``FTSPEC_RESULT`` names the file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ftspec.providers.local.ray_train import RESULT, emit


class GenerationActor:
    """One model on one worker: base + adapter, loaded once."""

    def __init__(self, base: str, adapter: str, use_gpu: bool) -> None:
        from peft import PeftModel

        from ftspec.providers.local import models
        from ftspec.providers.local.generate import Engine

        device = "cuda" if use_gpu else "cpu"
        model = PeftModel.from_pretrained(models.load_base_model(base, device), adapter)
        model.eval()
        self.engine = Engine(model=model, tokenizer=models.load_tokenizer(base), device=device)

    def run(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ftspec.providers.base import ChatRequest

        return [asdict(r) for r in self.engine.generate([ChatRequest(**r) for r in requests])]


def main() -> int:
    import fsspec
    import ray

    folder = Path.cwd()
    spec = json.loads((folder / "generate.json").read_text())
    requests, calls, settings = spec["requests"], spec["calls"], spec["ray"]
    ray.init()
    use_gpu = bool(settings.get("use_gpu"))
    actor_cls = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0)(GenerationActor)
    n_actors = max(1, min(int(settings["num_workers"]), len(calls)))
    actors = [actor_cls.remote(spec["base_model"], str(folder / "adapter"), use_gpu) for _ in range(n_actors)]
    emit("info", f"generating {len(requests)} requests in {len(calls)} calls on {n_actors} Ray actors")
    futures = [actors[i % n_actors].run.remote([requests[j] for j in call]) for i, call in enumerate(calls)]
    results: list[Any] = [None] * len(requests)
    for call, out in zip(calls, ray.get(futures), strict=True):
        for j, result in zip(call, out, strict=True):
            results[j] = result
    fs, root = fsspec.core.url_to_fs(settings["storage_path"])
    rel = f"{settings['run_name']}/generations.json"
    fs.makedirs(f"{root.rstrip('/')}/{settings['run_name']}", exist_ok=True)
    with fs.open(f"{root.rstrip('/')}/{rel}", "w") as fh:
        fh.write(json.dumps(results))
    print(RESULT + json.dumps({"generations": rel}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
