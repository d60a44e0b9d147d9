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
    """Adopt the organization's jobs (all, or ``job_ids``, or those created on/after ``since``).

    Everything that can be known before writing is checked first (the key, the job ids, an
    empty organization, a spec of the same name that adopt did not write), so bad input is one
    error and nothing is half-written."""
    from ftspec.providers.openai import OpenAIProvider

    provider = OpenAIProvider(settings, project_root=root)
    try:
        jobs = sorted(_select(provider, job_ids, since), key=lambda j: (j.created_at or 0, j.id))
        if not jobs:
            when = f" created on or after {since.isoformat()}" if since else ""
            raise FtspecError(f"adopt: the organization has no fine-tuning jobs{when}; nothing to adopt",
                              hint="check the key's organization and project (OPENAI_ORG_ID / OPENAI_PROJECT_ID)")
        names = _names(root, [j for j in jobs if _skip_reason(j) is None])
        result = AdoptResult()
        for job in jobs:
            note = _skip_reason(job)
            if note is None:
                try:
                    result.adopted.append(_adopt_job(root, settings, provider, job, names[job.id], echo))
                    continue
                except _Skip as exc:
                    note = str(exc)
            result.notes.append(note)
            echo(f"note: {note}")
        return result
    finally:
        provider.close()


def _header(job: Job) -> str:
    return f"# Adopted by `ftspec adopt openai` from fine-tuning job {job.id}\n"


def _names(root: Path, jobs: list[Job]) -> dict[str, str]:
    """Job id -> spec name. A name whose spec another job's adoption wrote becomes
    ``NAME-<job id tail>`` (stable whatever order jobs are adopted in); a spec that adopt did
    not write is never touched: that is an error before anything is written."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for job in jobs:
        name = spec_name(job)
        path = root / "specs" / f"{name}.yaml"
        head = path.read_text(encoding="utf-8").splitlines(keepends=True)[:1] if path.is_file() else []
        mine = head == [_header(job)]
        adopted_other = bool(head) and head[0].startswith("# Adopted by `ftspec adopt openai` from fine-tuning job ")
        if path.is_file() and not mine and not adopted_other:
            raise FtspecError(f"adopt: specs/{name}.yaml already exists and is not an adopted spec of job {job.id}; "
                              "nothing written", hint="rename or move that spec, then adopt again")
        if (adopted_other and not mine) or taken.get(name, job.id) != job.id:
            name = f"{name}-{job.id[-8:].lower()}"
        taken[name] = job.id
        out[job.id] = name
    return out


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


def _adopt_job(root: Path, settings: dict[str, Any], provider, job: Job, name: str, echo) -> Adopted:
    spec_path = root / "specs" / f"{name}.yaml"
    folder = root / "data" / "adopted" / name
    if not job.training_file:
        raise _Skip(f"job {job.id}: the job names no training file; not adopted")
    existed = spec_path.is_file()
    partials = [_download(provider, job, job.training_file, folder / "train.jsonl")]
    try:
        layout = _layout(job, partials[0])
        if job.validation_file:
            partials.append(_download(provider, job, job.validation_file, folder / "validation.jsonl"))
            if _layout(job, partials[1]).kind != layout.kind:
                raise _Skip(f"job {job.id}: its validation file is not {layout.kind} data like its training "
                            "file; not adopted")
        shas = {split: layout.settle(part) for split, part in zip(("train", "validation"), partials, strict=False)}
    finally:
        for part in partials:
            part.unlink(missing_ok=True)
    heldout = write_heldout(folder / "validation.jsonl", folder / "heldout.jsonl") if job.validation_file else None
    _write_if_changed(spec_path, spec_text(name, job, settings, shas, heldout, layout))
    try:
        lock = _record(root, spec_path, job, echo)
    except _Skip:
        if not existed:  # nothing half-adopted: a spec without its lock is removed again
            spec_path.unlink(missing_ok=True)
        raise
    echo(f"adopted {job.id} -> {spec_path.relative_to(root).as_posix()} (model {job.fine_tuned_model})")
    return Adopted(name=name, job_id=job.id, model=job.fine_tuned_model or "", spec=spec_path,
                   lock=lock, files=shas)


def _download(provider, job: Job, file_id: str, dest: Path) -> Path:
    """Stream ``file_id`` as canonical JSONL (one sorted-key object a line) into the partial
    file ``dest.download``, which it returns, whole and fsynced (``Layout.settle`` moves it to
    ``dest``). The partial file is truncated at the start of every attempt, so a retried or a
    killed-and-rerun download never appends twice. Never more than one line is in memory."""
    import os

    partial = dest.with_name(dest.name + ".download")
    partial.parent.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"fh": None, "line": 0}

    def close() -> None:
        if state["fh"] is not None and not state["fh"].closed:
            state["fh"].close()

    def write_line(line: bytes | None) -> None:
        if line is None:  # a (re)started download: begin the partial file afresh
            close()
            state["fh"] = open(partial, "wb")  # noqa: SIM115 - closed below, or on the next attempt
            state["line"] = 0
            return
        state["line"] += 1
        if not line.strip():
            return
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Skip(f"job {job.id}: file {file_id} line {state['line']} is not JSON ({exc.msg}); not adopted") from None
        state["fh"].write(canonical_json(record).encode("utf-8") + b"\n")

    try:
        provider.download_file(file_id, write_line)
        state["fh"].flush()
        os.fsync(state["fh"].fileno())
        close()
    except ProviderError as exc:
        close()
        partial.unlink(missing_ok=True)
        if exc.status == 404:
            raise _Skip(f"job {job.id}: its file {file_id} was deleted; not adopted "
                        "(the data cannot be recovered from OpenAI)") from None
        raise
    except BaseException:
        close()
        partial.unlink(missing_ok=True)
        raise
    return partial


# ---- data layout: chat, or legacy prompt/completion --------------------------------------------

# the legacy rules' separators and stop sequences (openai-fine-tuning-facts.md §3), longest first
SEPARATORS = ("\n\n### =>\n\n", "\n\n===>\n\n", "\n\n--->\n\n", "\n\n###\n\n", "\n\n===\n\n",
              "\n\n---\n\n", " ->")
STOPS = (" [END]", " END", "###", "***", "+++", "&&&", "$$$", "@@@", "%%%", "\n", ".")


@dataclass
class Layout:
    """How a job's data is laid out: ``chat`` (messages, kept as downloaded) or ``completion``
    (prompts ending in one separator, completions in one stop sequence; both are taken off each
    line and named in the template, which puts them back when ftspec builds the dataset)."""

    kind: str
    separator: str = ""
    stop: str = ""
    no_leading_space: int = 0  # completions that did not start with a space (the template adds one)

    def settle(self, partial: Path) -> str:
        """Put a downloaded partial file in place (``x.jsonl.download`` -> ``x.jsonl``), taking
        the separator and stop off completion data first; returns the file's sha256. A file
        already there with the same bytes is left alone (and its mtime): one rename or none."""
        import filecmp
        import os

        if self.kind == "completion":
            _rewrite(partial, lambda r: {**r, "prompt": r["prompt"][: len(r["prompt"]) - len(self.separator)],
                                         "completion": r["completion"][: len(r["completion"]) - len(self.stop)].lstrip(" ")})
        dest = partial.with_name(partial.name.removesuffix(".download"))
        if dest.is_file() and filecmp.cmp(dest, partial, shallow=False):
            partial.unlink()
        else:
            os.replace(partial, dest)
        return sha256_file(dest)


def _records(path: Path):
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _common_suffix(a: str | None, b: str) -> str:
    if a is None:
        return b
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return a[len(a) - n:]


def _layout(job: Job, path: Path) -> Layout:
    """Read the file once (a line at a time) to tell chat from completion data, and for
    completion data find the separator and stop every line shares; skip when there is none."""
    kind, prompts, completions, bare = None, None, None, 0
    for record in _records(path):
        this = "chat" if "messages" in record else "completion" if {"prompt", "completion"} <= set(record) else "other"
        if kind not in (None, this) or this == "other":
            raise _Skip(f"job {job.id}: file {path.name} is neither chat (messages) nor prompt/completion data "
                        "throughout; not adopted")
        kind = this
        if this == "completion":
            prompts = _common_suffix(prompts, str(record["prompt"]))
            completions = _common_suffix(completions, str(record["completion"]))
            bare += not str(record["completion"]).startswith(" ")
    if kind is None:
        raise _Skip(f"job {job.id}: file {path.name} holds no examples; not adopted")
    if kind == "chat":
        return Layout("chat")
    separator = next((c for c in SEPARATORS if (prompts or "").endswith(c)), prompts or "")
    stop = next((c for c in STOPS if (completions or "").endswith(c)), completions or "")
    if not separator or not stop:
        missing = "separator at the end of every prompt" if not separator else "stop sequence at the end of every completion"
        raise _Skip(f"job {job.id}: completion data without a common {missing}; not adopted "
                    "(ftspec's completion template needs one)")
    for record in _records(path):
        if separator in str(record["prompt"])[: -len(separator)]:
            raise _Skip(f"job {job.id}: the separator {separator!r} also occurs inside a prompt; not adopted")
        if stop in str(record["completion"])[: -len(stop)]:
            raise _Skip(f"job {job.id}: the stop sequence {stop!r} also occurs inside a completion; not adopted")
    return Layout("completion", separator=separator, stop=stop, no_leading_space=bare)


def _rewrite(path: Path, change) -> None:
    """Rewrite a JSONL file line by line through ``change``, atomically."""
    with AtomicWriter(path.with_name(path.name + ".rewrite")) as out:
        for record in _records(path):
            out.write(canonical_json(change(record)).encode("utf-8") + b"\n")
    staged = path.with_name(path.name + ".rewrite")
    staged.replace(path)


@dataclass
class Heldout:
    """The eval set made from a validation file: one case per line that ends in an answer."""

    cases: int
    without_answer: list[int]  # validation lines with no final assistant turn (no ideal to hold)


def write_heldout(validation: Path, dest: Path) -> Heldout:
    """Each validation conversation minus its last assistant turn (or each validation prompt) is
    a prompt the model never trained on; that turn (or the completion), the answer it was trained
    to give, is the case's ideal. Case ids are the validation file's line numbers, so they are
    stable across adoptions. Streamed a line at a time, written only when the bytes change."""
    import filecmp
    import os

    cases, missing = 0, []
    partial = dest.with_name(dest.name + ".download")
    with open(validation, encoding="utf-8") as fh, open(partial, "wb") as out:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            case: dict[str, Any] | None = None
            if "messages" in record:
                messages = record.get("messages") or []
                last = messages[-1] if messages else {}
                if (isinstance(last, dict) and last.get("role") == "assistant" and isinstance(last.get("content"), str)
                        and len(messages) > 1):
                    case = {"id": f"validation-{number}", "messages": messages[:-1], "ideal": last["content"]}
            elif isinstance(record.get("prompt"), str) and isinstance(record.get("completion"), str):
                case = {"id": f"validation-{number}", "prompt": record["prompt"], "ideal": record["completion"]}
            if case is None:
                missing.append(number)
                continue
            out.write(canonical_json(case).encode("utf-8") + b"\n")
            cases += 1
        out.flush()
        os.fsync(out.fileno())
    if dest.is_file() and filecmp.cmp(dest, partial, shallow=False):
        partial.unlink()
    else:
        os.replace(partial, dest)
    return Heldout(cases=cases, without_answer=missing)


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
              heldout: Heldout | None = None, layout: Layout | None = None) -> str:
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
    layout = layout or Layout("chat")
    fmt = "chat_jsonl" if layout.kind == "chat" else "completion_jsonl"
    if layout.kind == "chat":
        template = "template: {type: chat}"
    else:
        template = f"template: {{type: completion, separator: {json.dumps(layout.separator)}, stop: {json.dumps(layout.stop)}}}"
        lines += [
            f"# completion data: every prompt ended with the separator {json.dumps(layout.separator)} and every",
            f"# completion with the stop sequence {json.dumps(layout.stop)}; adopt took them off each line and the",
            "# template puts them back (and one leading space on each completion) when ftspec builds the dataset",
        ]
        if layout.no_leading_space:
            lines.append(f"# {layout.no_leading_space} completion(s) did not start with a space; the rebuilt "
                         "dataset gives them one, as the legacy rules ask")
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
        f"  - {{name: train, path: ../data/adopted/{name}/train.jsonl, format: {fmt}, split: train}}",
        *([f"  - {{name: validation, path: ../data/adopted/{name}/validation.jsonl, format: {fmt}, "
           "split: validation}"] if "validation" in shas else []),
        template,
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
            try:
                graph.run_dataset()
            except FtspecError as exc:
                first = exc.message.splitlines()[0] if exc.message else type(exc).__name__
                raise _Skip(f"job {job.id}: its data does not rebuild as a spec's dataset ({first}); not adopted") from None
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
