"""``ftspec serve`` throughput: 16 concurrent clients (dynamic batching) vs one request at a time.

Starts ``ftspec serve`` in a subprocess on 127.0.0.1 and sends the same greedy chat requests
twice through the ``openai`` client: one after another (the server never has two at once), then
from 16 concurrent clients. Prints completion tokens/s, p50/p95 latency, the batches the server
made and the ratio (goal >= 3x). The served model is either a built spec's locked model
(``--spec``), the bundled Gemma 3 270M base (``--bundled``), or by default the tiny test model
LoRA-trained here in seconds. A llama.cpp column is printed only when ``llama_cpp`` is importable.

    .venv/bin/python benchmarks/bench_serve.py                       # tiny model, trained here
    .venv/bin/python benchmarks/bench_serve.py --bundled             # Gemma 3 270M (Q4_K_M, dequantised)
    .venv/bin/python benchmarks/bench_serve.py --spec specs/support.yaml --requests 64
    .venv/bin/python benchmarks/bench_serve.py --threads 1           # torch threads of the server

On a machine whose cores are shared with other work, torch's intra-op threads wait on each other
(a 16-row step of the tiny model measured 20x slower with 2 threads than with 1 at load 5 on
2 cores); ``--threads`` sets the server's ``OMP_NUM_THREADS`` for both measurements alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

QUESTIONS = ["How do I reset my password?", "Where is my order?", "Can I get a refund?",
             "How do I change my email address?", "Is there a mobile app?", "How do I delete my account?",
             "What payment methods do you accept?", "How long does shipping take?"]


def train_tiny(folder: Path, env: dict[str, str]) -> Path:
    from ftspec.testing.tiny_model import build_tiny_model, write_local_spec

    base = build_tiny_model(folder / "tiny")
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": f"Answer {i}: see Settings."}]}
            for i, q in enumerate(QUESTIONS * 3)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = write_local_spec(folder / "bench.yaml", base, name="bench", data="train.jsonl",
                            system="You are Acme support.", validation=0.0, batch_size=8)
    subprocess.run([sys.executable, "-m", "ftspec", "build", str(spec)], cwd=folder, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return spec


def bundled_spec(folder: Path) -> Path:
    spec = folder / "bundled.yaml"
    (folder / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                                 {"role": "assistant", "content": "hello"}]}) + "\n")
    spec.write_text("ftspec: 1\nname: bundled\nprovider: local\nbase_model: gemma-3-270m\n"
                    "sources:\n  - {name: faq, path: train.jsonl, format: chat_jsonl}\n"
                    "template: {type: chat, system: \"You are Acme support. Answer briefly.\"}\n", encoding="utf-8")
    return spec


class Served:
    def __init__(self, spec: Path, env: dict[str, str], extra: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "ftspec", "serve", str(spec), "--port", "0", *extra],
                                     cwd=spec.parent, env=env, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            print(f"  server: {line.rstrip()}", file=sys.stderr)
            if line.startswith("serving "):
                self.url = line.split(" on ", 1)[1].split(";", 1)[0]
                self.model = line.split(" ", 2)[1]
                break
        else:
            raise SystemExit(f"ftspec serve exited with {self.proc.wait()}")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr or []], daemon=True).start()

    def health(self) -> dict:
        return httpx.get(self.url.removesuffix("/v1") + "/health", timeout=30).json()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def run(url: str, model: str, questions: list[str], clients: int, max_tokens: int) -> dict:
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600,
                           http_client=httpx.Client(limits=httpx.Limits(max_connections=64), timeout=600))
    latencies: list[float] = []
    tokens = 0
    lock = threading.Lock()

    def one(question: str) -> None:
        nonlocal tokens
        started = time.perf_counter()
        answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                temperature=0, max_tokens=max_tokens)
        with lock:
            latencies.append(time.perf_counter() - started)
            tokens += answer.usage.completion_tokens

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, questions))
    wall = time.perf_counter() - started
    latencies.sort()
    return {"tokens": tokens, "wall": wall, "tps": tokens / wall, "p50": statistics.median(latencies),
            "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="a built spec whose locked model to serve")
    parser.add_argument("--bundled", action="store_true", help="serve the bundled Gemma 3 270M base model")
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the server (default: torch's own)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ftspec-bench-serve-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.setdefault("FTSPEC_LOCAL_STORE", str(folder / "store"))
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        extra: list[str] = []
        if args.spec:
            spec, label = args.spec.resolve(), f"spec {args.spec}"
        elif args.bundled:
            spec, label = bundled_spec(folder), "bundled gemma-3-270m (base)"
            extra = ["--model", "gemma-3-270m"]
        else:
            spec, label = train_tiny(folder, env), "tiny test model (LoRA-trained here)"
        questions = [f"{QUESTIONS[i % len(QUESTIONS)]} (request {i})" for i in range(args.requests)]
        server = Served(spec, env, extra)
        try:
            run(server.url, server.model, questions[:2], 1, args.max_tokens)  # warm-up
            before = server.health()
            single = run(server.url, server.model, questions, 1, args.max_tokens)
            middle = server.health()
            many = run(server.url, server.model, questions, args.clients, args.max_tokens)
            after = server.health()
        finally:
            server.stop()

    threads = f", OMP_NUM_THREADS={args.threads}" if args.threads else ""
    print(f"ftspec serve, {label}: {args.requests} greedy chat requests, max_tokens {args.max_tokens}{threads}")
    print(f"{'':28} {'tokens/s':>9} {'p50 s':>7} {'p95 s':>7} {'batches':>8}")
    print(f"{'one request at a time':28} {single['tps']:9.1f} {single['p50']:7.3f} {single['p95']:7.3f} "
          f"{middle['batches'] - before['batches']:8d}")
    print(f"{f'{args.clients} concurrent clients':28} {many['tps']:9.1f} {many['p50']:7.3f} {many['p95']:7.3f} "
          f"{after['batches'] - middle['batches']:8d}")
    print(f"throughput ratio (concurrent / one at a time): {many['tps'] / single['tps']:.2f}x (goal >= 3x)")
    if importlib.util.find_spec("llama_cpp") is None:
        print("llama.cpp column: not measured (llama_cpp is not importable; pip install llama-cpp-python)")
    else:
        print("llama.cpp column: llama_cpp is importable, but the gguf-lora export this compares against is "
              "not part of this benchmark yet")


if __name__ == "__main__":
    main()
