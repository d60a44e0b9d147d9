"""``ftspec adopt openai``: bring fine-tuned models made outside ftspec under a spec and a lock.

For each succeeded job it streams the training file down as canonical JSONL, writes a spec that
reproduces the job (base model, chat template, the job's resolved hyperparameters, suffix) and
then records the job exactly as a build would have: the upload and job receipts are the adopted
file and job ids, keyed by the same idempotency keys a build computes, and the build's own tasks
(dataset, upload, job, wait, lock) run against them. So ``ftspec build`` on the adopted spec
finds everything in place and pays for nothing, and ``ftspec status`` says up to date.

Nothing is guessed: a failed or cancelled job, or one whose training file was deleted, is
skipped with a one-line note. Every file is written atomically and only when its bytes change,
so a second adopt leaves every byte as it was. The API key is read from the environment
variable the spec names and never written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError, ProviderError
from ftspec.graph import inputs as inp
from ftspec.providers.base import Job
from ftspec.util import AtomicWriter, atomic_write_text, canonical_json, sha256_file

HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")


@dataclass
class Adopted:
    name: str
    job_id: str
    model: str
    spec: Path
    lock: Path
    files: dict[str, str]  # split -> sha256 of the canonical JSONL written


@dataclass
class AdoptResult:
    adopted: list[Adopted] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per job not adopted, and why


def adopt_openai(root: Path, settings: dict[str, Any], *, job_ids: tuple[str, ...] = (),
                 since: date | None = None, echo: Callable[[str], None] = print) -> AdoptResult:
    """Adopt the organization's jobs (all, or ``job_ids``, or those created on/after ``since``)."""
    from ftspec.providers.openai import OpenAIProvider

    provider = OpenAIProvider(settings, project_root=root)
    try:
        jobs = _select(provider, job_ids, since)
        result = AdoptResult()
        for job in sorted(jobs, key=lambda j: (j.created_at or 0, j.id)):
            note = _skip_reason(job)
            if note is None:
                try:
                    result.adopted.append(_adopt_job(root, settings, provider, job, echo))
                    continue
                except _Skip as exc:
                    note = str(exc)
            result.notes.append(note)
            echo(f"note: {note}")
        return result
    finally:
        provider.close()


class _Skip(Exception):
    """A job that cannot be adopted without guessing; its message is the note."""


def _select(provider, job_ids: tuple[str, ...], since: date | None) -> list[Job]:
    if job_ids:
        out = []
        for job_id in job_ids:
            try:
                out.append(provider.get_job(job_id))
            except ProviderError as exc:
                if exc.status == 404:
                    raise FtspecError(f"adopt: no fine-tuning job {job_id} in this organization",
                                      hint="list them with: ftspec adopt openai (without --job)") from None
                raise
        return out
    jobs = provider.list_jobs()
    if since is not None:
        floor = datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp()
        jobs = [j for j in jobs if (j.created_at or 0) >= floor]
    return jobs


def _skip_reason(job: Job) -> str | None:
    if job.status != "succeeded":
        why = f": {job.error['message']}" if job.error and job.error.get("message") else ""
        return f"job {job.id} is {job.status}{why}; not adopted (only succeeded jobs have a model)"
    if not job.fine_tuned_model:
        return f"job {job.id} succeeded but names no model; not adopted"
    if not job.training_file:
        return f"job {job.id} names no training file; not adopted"
    return None


def spec_name(job: Job) -> str:
    """The model's suffix (``ft:base:org:SUFFIX:id``), else the job id's tail; a valid spec name."""
    suffix = _suffix(job)
    raw = suffix or f"ft-{job.id[-8:]}"
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    return name or f"ft-{job.id[-8:]}"


def _suffix(job: Job) -> str:
    parts = (job.fine_tuned_model or "").split(":")
    return parts[3] if len(parts) >= 5 else ""


def _adopt_job(root: Path, settings: dict[str, Any], provider, job: Job, echo) -> Adopted:
    name = spec_name(job)
    spec_path = root / "specs" / f"{name}.yaml"
    header = f"# Adopted by `ftspec adopt openai` from fine-tuning job {job.id}\n"
    if spec_path.is_file() and not spec_path.read_text(encoding="utf-8").startswith(header):
        # never overwrite a spec someone wrote (or one adopted from another job of that name)
        raise _Skip(f"job {job.id}: specs/{name}.yaml already exists and is not this job's adopted spec; "
                    "not adopted (rename that spec, or adopt with --job after moving it)")
    folder = root / "data" / "adopted" / name
    if not job.training_file:
        raise _Skip(f"job {job.id}: the job names no training file; not adopted")
    shas = {"train": _download(provider, job, job.training_file, folder / "train.jsonl")}
    heldout = None
    if job.validation_file:
        shas["validation"] = _download(provider, job, job.validation_file, folder / "validation.jsonl")
        heldout = write_heldout(folder / "validation.jsonl", folder / "heldout.jsonl")
    _write_if_changed(spec_path, spec_text(name, job, settings, shas, heldout))
    lock = _record(root, spec_path, job, echo)
    echo(f"adopted {job.id} -> {spec_path.relative_to(root).as_posix()} (model {job.fine_tuned_model})")
    return Adopted(name=name, job_id=job.id, model=job.fine_tuned_model or "", spec=spec_path,
                   lock=lock, files=shas)


def _download(provider, job: Job, file_id: str, dest: Path) -> str:
    """Stream ``file_id`` to ``dest`` as canonical JSONL (one sorted-key object a line); returns
    its sha256. Written to a temp file first, so the old copy stays until the new one is whole."""
    writer: list[AtomicWriter] = []
    line_no = [0]

    def write_line(line: bytes | None) -> None:
        if line is None:  # a (re)started download: begin a fresh temp file
            for w in writer:
                w.abort()
            writer[:] = [AtomicWriter(dest.with_name(dest.name + ".part"))]
            line_no[0] = 0
            return
        line_no[0] += 1
        if not line.strip():
            return
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Skip(f"job {job.id}: file {file_id} line {line_no[0]} is not JSON ({exc.msg}); not adopted") from None
        writer[0].write(canonical_json(record).encode("utf-8") + b"\n")

    try:
        provider.download_file(file_id, write_line)
    except ProviderError as exc:
        for w in writer:
            w.abort()
        if exc.status == 404:
            raise _Skip(f"job {job.id}: its file {file_id} was deleted; not adopted "
                        "(the data cannot be recovered from OpenAI)") from None
        raise
    except BaseException:
        for w in writer:
            w.abort()
        raise
    part = writer[0]
    part.commit()
    staged = part.path
    if dest.is_file() and dest.read_bytes() == staged.read_bytes():
        staged.unlink()  # same bytes: leave the existing file (and its mtime) alone
    else:
        staged.replace(dest)
    return sha256_file(dest)


@dataclass
class Heldout:
    """The eval set made from a validation file: one case per line that ends in an answer."""

    cases: int
    without_answer: list[int]  # validation lines with no final assistant turn (no ideal to hold)


def write_heldout(validation: Path, dest: Path) -> Heldout:
    """Each validation conversation minus its last assistant turn is a prompt the model never
    trained on; that turn, the answer it was trained to give, is the case's ideal. Case ids are
    the validation file's line numbers, so they are stable across adoptions."""
    lines: list[str] = []
    missing: list[int] = []
    with open(validation, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            messages = json.loads(line).get("messages") or []
            last = messages[-1] if messages else {}
            if not (isinstance(last, dict) and last.get("role") == "assistant" and isinstance(last.get("content"), str)
                    and len(messages) > 1):
                missing.append(number)
                continue
            lines.append(canonical_json({"id": f"validation-{number}", "messages": messages[:-1],
                                         "ideal": last["content"]}))
    _write_if_changed(dest, "".join(f"{line}\n" for line in lines))
    return Heldout(cases=len(lines), without_answer=missing)


def _eval_lines(name: str, heldout: Heldout | None) -> list[str]:
    if heldout is None or not heldout.cases:
        return []
    skipped = heldout.without_answer
    return [
        "# heldout: the job's validation prompts (never trained on), each with the answer the model was",
        "# trained to give as its ideal. It runs only with `ftspec eval` (build: false), so building the",
        "# adopted spec spends nothing; `ftspec eval SPEC --record-baseline` freezes the model's answers.",
        "# Exact match is strict: change the scorers to what \"as good\" means for this model.",
        *([f"# validation lines without a final assistant turn (no ideal, not cases): "
           f"{', '.join(map(str, skipped))}"] if skipped else []),
        "evals:",
        "  - name: heldout",
        f"    cases: ../data/adopted/{name}/heldout.jsonl",
        "    sampling: {temperature: 0, seed: 0}",
        "    scorers: [{exact: {ignore_case: true}}]",
        "    build: false",
    ]


def spec_text(name: str, job: Job, settings: dict[str, Any], shas: dict[str, str],
              heldout: Heldout | None = None) -> str:
    """The spec, deterministic for the same job: comments record where every byte came from."""
    hp = {k: job.hyperparameters[k] for k in HYPERPARAMETERS if k in job.hyperparameters}
    unresolved = [k for k, v in hp.items() if v == "auto" or v is None]
    if unresolved or len(hp) < len(HYPERPARAMETERS):
        raise _Skip(f"job {job.id}: the API does not report resolved {', '.join(unresolved) or 'hyperparameters'}; "
                    "not adopted")
    provider_block = {k: settings[k] for k in ("base_url", "api_key_env", "organization", "project")
                      if settings.get(k)}
    lines = [
        f"# Adopted by `ftspec adopt openai` from fine-tuning job {job.id}",
        f"# model: {job.fine_tuned_model}",
        f"# training file {job.training_file}: ../data/adopted/{name}/train.jsonl sha256 {shas['train']}",
    ]
    if "validation" in shas:
        lines.append(f"# validation file {job.validation_file}: ../data/adopted/{name}/validation.jsonl "
                     f"sha256 {shas['validation']}")
    lines += [
        "ftspec: 1",
        f"name: {name}",
        "provider: openai",
        f"base_model: {job.model}",
    ]
    if provider_block:
        lines += ["providers:", "  openai:"]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in sorted(provider_block.items())]
    lines += [
        "sources:",
        f"  - {{name: train, path: ../data/adopted/{name}/train.jsonl, format: chat_jsonl, split: train}}",
        *([f"  - {{name: validation, path: ../data/adopted/{name}/validation.jsonl, format: chat_jsonl, "
           "split: validation}"] if "validation" in shas else []),
        "template: {type: chat}",
        "split: {validation: 0}",
        "hyperparameters: {" + ", ".join(f"{k}: {json.dumps(hp[k])}" for k in HYPERPARAMETERS) + "}",
        f"job: {{suffix: {json.dumps(_suffix(job) or name)}}}",
        *_eval_lines(name, heldout),
    ]
    return "\n".join(lines) + "\n"


def _record(root: Path, spec_path: Path, job: Job, echo) -> Path:
    """Run the build's own tasks with the adopted ids already in the run-cache, so the state,
    receipts and lockfile are byte-for-byte what a build of this spec would have left."""
    from ftspec.graph.tasks import SpecGraph
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path)
    graph = SpecGraph(spec, root, echo=lambda line: None)
    try:
        if not graph.dataset_uptodate():
            graph.run_dataset()
        remote_ids = {"train": job.training_file, "validation": job.validation_file}
        for split, split_inputs in graph.upload_inputs().items():
            if not remote_ids.get(split):
                raise _Skip(f"job {job.id}: the rebuilt dataset has a {split} split the job did not; not adopted")
            key = inp.idempotency_key(split_inputs)
            graph.state.save_receipt(graph.scope, "uploads", key, {
                "key": key, "file_id": remote_ids[split], "filename": f"adopted-{remote_ids[split]}",
                "bytes": 0, "sha256": split_inputs["sha256"], "provider": spec.provider, "spec": spec.name,
                "split": split,
            })
        graph.run_upload()
        key = inp.idempotency_key(graph.job_inputs())
        graph.state.save_receipt(graph.scope, "jobs", key, {
            "key": key, "id": job.id, "status": job.status, "spec": spec.name, "provider": spec.provider,
            "base_model": spec.base_model, "fine_tuned_model": job.fine_tuned_model,
            "trained_tokens": job.trained_tokens, "hyperparameters": job.hyperparameters,
        })
        graph.run_job()
        graph.run_wait()
        graph.run_lock()
    finally:
        graph.close()
    return graph.lock_file


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    atomic_write_text(path, text)
