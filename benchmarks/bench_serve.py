"""``ftspec serve`` throughput: 16 concurrent clients (dynamic batching) vs one request at a time.

Starts ``ftspec serve`` in a subprocess on 127.0.0.1 and sends the same greedy chat requests
twice through the ``openai`` client: one after another (the server never has two at once), then
from 16 concurrent clients. Prints completion tokens/s, p50/p95 latency, the batches the server
made and the ratio (goal >= 3x). The served model is either a built spec's locked model
(``--spec``), the bundled Gemma 3 270M base (``--bundled``), or by default the tiny test model
LoRA-trained here in seconds.

The llama.cpp column serves the same model with llama-cpp-python's own server
(``python -m llama_cpp.server``, ``pip install 'llama-cpp-python[server]'``): the ``gguf-lora``
export on its GGUF base (the base alone for ``--bundled``; the tiny model is built in llama.cpp's
attention layout and written as a GGUF for it). Requests go to its ``/v1/completions`` with the
prompt ``ftspec serve`` would render (the spec's system prompt and chat format, from the export's
``chat_template.jinja``) and the export's stops, so both servers generate for the same text.
Note the weights differ in kind: llama.cpp runs the Q4_K_M (or tiny f32) GGUF with its own kernels,
ftspec serve runs the dequantised base in torch.

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
from typing import Any

import httpx

QUESTIONS = ["How do I reset my password?", "Where is my order?", "Can I get a refund?",
             "How do I change my email address?", "Is there a mobile app?", "How do I delete my account?",
             "What payment methods do you accept?", "How long does shipping take?"]


def train_tiny(folder: Path, env: dict[str, str]) -> Path:
    from ftspec.testing.tiny_model import build_tiny_model, write_gguf, write_local_spec

    # llama.cpp's attention layout, so the llama.cpp column can load the same weights as a GGUF
    base = build_tiny_model(folder / "tiny", llama_cpp=True)
    write_gguf(base, folder / "tiny.gguf")
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


class LlamaCppServed:
    """llama-cpp-python's OpenAI-compatible server on an export (``base`` GGUF, optional adapter)."""

    def __init__(self, base: Path, adapter: Path | None, threads: int | None) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(base), "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", "2048", "--model_alias", "llamacpp"]
        if adapter is not None:
            cmd += ["--lora_path", str(adapter)]
        if threads:
            cmd += ["--n_threads", str(threads)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url, self.model = f"http://127.0.0.1:{port}/v1", "llamacpp"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.stop()
        raise SystemExit("llama_cpp.server did not answer within 300 s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def llama_cpp_export(spec: Path, model_id: str, folder: Path, env: dict[str, str], tiny: bool) -> tuple[Path, Path]:
    """The gguf-lora export of the served model: (base GGUF, adapter GGUF)."""
    out = folder / "gguf-lora"
    cmd = [sys.executable, "-m", "ftspec", "export", str(spec), "--format", "gguf-lora", "--model", model_id,
           "--out", str(out)]
    if tiny:
        cmd += ["--base-gguf", str(folder / "tiny.gguf")]
    subprocess.run(cmd, cwd=spec.parent, env=env, check=True, stdout=subprocess.DEVNULL)
    record = json.loads((out / "export.json").read_text(encoding="utf-8"))
    return Path(record["base_gguf"]["path"]), out / record["artifact"]


def rendered_prompts(spec: Path, questions: list[str], export: Path | None) -> tuple[list[str], list[str]]:
    """What ftspec serve renders for each question (spec template, chat format), and the stops."""
    from ftspec import load_spec
    from ftspec.data.templates import get_template
    from ftspec.providers.local.chat_format import JINJA_CHAT_TEMPLATE, STOPS, render_jinja_template

    template = get_template(load_spec(spec))
    jinja = (export / "chat_template.jinja").read_text(encoding="utf-8") if export else JINJA_CHAT_TEMPLATE
    prompts = [render_jinja_template(jinja, template.prompt_for(messages=[{"role": "user", "content": q}]),
                                     bos_token="") for q in questions]
    return prompts, list(STOPS)


def run(url: str, model: str, questions: list[str], clients: int, max_tokens: int,
        stops: list[str] | None = None) -> dict:
    """Greedy requests from ``clients`` threads: chat messages, or (``stops`` given) completion
    prompts already rendered, as llama.cpp's column sends them."""
    import openai

    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600,
                           http_client=httpx.Client(limits=httpx.Limits(max_connections=64), timeout=600))
    latencies: list[float] = []
    tokens = 0
    lock = threading.Lock()

    def one(question: str) -> None:
        nonlocal tokens
        started = time.perf_counter()
        answer: Any
        if stops is None:
            answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                    temperature=0, max_tokens=max_tokens)
        else:
            # llama-cpp-python's default repeat penalty 1.1 is not the greedy decoding ftspec serves
            answer = client.completions.create(model=model, prompt=question, temperature=0,
                                               max_tokens=max_tokens, stop=stops,
                                               extra_body={"repeat_penalty": 1.0})
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
        llama = llama_cpp_column(args, spec, server.model, folder, env, questions)

    threads = f", OMP_NUM_THREADS={args.threads}" if args.threads else ""
    print(f"ftspec serve, {label}: {args.requests} greedy chat requests, max_tokens {args.max_tokens}{threads}")
    print(f"{'':40} {'tokens/s':>9} {'p50 s':>7} {'p95 s':>7} {'batches':>8}")
    print(f"{'ftspec serve, one request at a time':40} {single['tps']:9.1f} {single['p50']:7.3f} "
          f"{single['p95']:7.3f} {middle['batches'] - before['batches']:8d}")
    print(f"{f'ftspec serve, {args.clients} concurrent clients':40} {many['tps']:9.1f} {many['p50']:7.3f} "
          f"{many['p95']:7.3f} {after['batches'] - middle['batches']:8d}")
    if isinstance(llama, str):
        print(f"llama.cpp column: {llama}")
    else:
        for name, row in llama.items():
            print(f"{name:40} {row['tps']:9.1f} {row['p50']:7.3f} {row['p95']:7.3f} {'-':>8}")
    print(f"throughput ratio (concurrent / one at a time): {many['tps'] / single['tps']:.2f}x (goal >= 3x)")
    if not isinstance(llama, str):
        concurrent = llama[f"llama.cpp server, {args.clients} concurrent"]
        print(f"ftspec serve / llama.cpp server, {args.clients} concurrent: {many['tps'] / concurrent['tps']:.2f}x")


def llama_cpp_column(args, spec: Path, model_id: str, folder: Path, env: dict[str, str],
                     questions: list[str]) -> dict[str, dict] | str:
    """The same requests through llama-cpp-python's server, or why they were not measured."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        return "not measured (pip install 'llama-cpp-python[server]')"
    try:
        importlib.import_module("llama_cpp.server.app")
    except ImportError as exc:
        return f"not measured (llama_cpp.server does not import: {exc})"
    if args.bundled:
        from ftspec.providers.local import models

        base, adapter, export = models.gguf_path(models.resolve_base("gemma-3-270m")), None, None
    else:
        base, adapter = llama_cpp_export(spec, model_id, folder, env, tiny=not args.spec)
        export = adapter.parent
    prompts, stops = rendered_prompts(spec, questions, export)
    server = LlamaCppServed(base, adapter, args.threads)
    try:
        run(server.url, server.model, prompts[:2], 1, args.max_tokens, stops)  # warm-up
        single = run(server.url, server.model, prompts, 1, args.max_tokens, stops)
        many = run(server.url, server.model, prompts, args.clients, args.max_tokens, stops)
    finally:
        server.stop()
    return {"llama.cpp server, one at a time": single, f"llama.cpp server, {args.clients} concurrent": many}


if __name__ == "__main__":
    main()
