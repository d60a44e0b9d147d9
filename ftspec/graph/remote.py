"""Remote housekeeping: cancel a spec's job, garbage-collect, list the models lockfiles name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftspec.errors import FtspecError, LockError
from ftspec.graph.inputs import provider_scope
from ftspec.graph.state import State
from ftspec.lockfile import load_lock, lock_path
from ftspec.project import project_root

SKIP_DIRS = {".git", ".ftspec", ".venv", "node_modules", "__pycache__"}


def locked_specs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every ``<spec>.lock`` under ``root`` with its spec file beside it."""
    out = []
    for lock in sorted(root.rglob("*.lock")):
        if SKIP_DIRS & set(lock.relative_to(root).parts):
            continue
        spec = next((lock.with_suffix(s) for s in (".yaml", ".yml") if lock.with_suffix(s).is_file()), None)
        if spec is None:
            continue
        try:
            out.append((spec, load_lock(lock)))
        except LockError:
            continue  # not an ftspec lockfile (e.g. another tool's)
    return out


def cancel(spec_path: Path) -> dict[str, Any]:
    """Cancel the spec's current job (from build state, else the lockfile)."""
    from ftspec.providers import provider_for_spec
    from ftspec.spec import load_spec

    spec = load_spec(spec_path)
    root = project_root(spec.path)
    state = State(root)
    job = (state.task(spec.name, "job") or {}).get("outputs")
    if job is None:
        lock = lock_path(spec.path)
        if not lock.is_file():
            raise FtspecError(f"{spec.name}: no job to cancel (nothing was built)")
        data = load_lock(lock)
        job = {"id": data["job"]["id"], "key": data["job"]["key"]}
    provider = provider_for_spec(spec, project_root=root)
    try:
        current = provider.get_job(job["id"])
        if current.done:
            return {"spec": spec.name, "job": job["id"], "status": current.status, "cancelled": False}
        after = provider.cancel_job(job["id"])
    finally:
        provider.close()
    scope = provider_scope(spec)
    receipt = state.receipt(scope, "jobs", job["key"]) or {"key": job["key"], "id": job["id"]}
    state.save_receipt(scope, "jobs", job["key"], {**receipt, "status": after.status})
    return {"spec": spec.name, "job": job["id"], "status": after.status, "cancelled": True}


@dataclass
class Garbage:
    provider: str
    files: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    # running (billed) unreferenced deployments; None for a provider that serves without them
    deployments: list[dict[str, Any]] | None = None
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {"provider": self.provider, "files": self.files, "models": self.models, "deleted": self.deleted}
        if self.deployments is not None:
            out["deployments"] = self.deployments
        return out


def gc(root: Path, spec_paths: list[Path] | None = None, *, delete: bool = False) -> list[Garbage]:
    """Remote files ftspec uploaded and models it trained that no lockfile references.

    Only ftspec's own objects are candidates: files the provider says ftspec uploaded
    (``Provider.owns_file``) and models it says ftspec trained (``owns_model``) that this
    project's receipts recorded; nothing else in the account is ever touched. For providers
    that serve through deployments (``capabilities.deployment``): running deployments ftspec
    made (``owns_deployment``) that no lockfile names (a spec with ``deployment.keep`` names
    its own), deleted first so their models can go.
    """
    from ftspec.providers import provider_for_spec
    from ftspec.spec import load_spec

    locked = locked_specs(root)
    referenced_files = {fid for _, lock in locked for fid in (lock.get("files") or {}).values() if fid}
    referenced_models = {lock.get("model") for _, lock in locked if lock.get("model")}
    referenced_deployments = {(lock.get("deployment") or {}).get("id") for _, lock in locked} - {None}
    paths = spec_paths or [spec for spec, _ in locked]
    state = State(root)
    ours = {r.get("fine_tuned_model") for r in state.receipts("jobs") if r.get("fine_tuned_model")}
    out: list[Garbage] = []
    seen_scopes: set[str] = set()
    for path in paths:
        spec = load_spec(path)
        scope = provider_scope(spec)
        if scope in seen_scopes:
            continue
        seen_scopes.add(scope)
        provider = provider_for_spec(spec, project_root=root)
        try:
            garbage = Garbage(spec.provider)
            for f in provider.list_files():
                if provider.owns_file(f) and f.id not in referenced_files:
                    garbage.files.append({"id": f.id, "filename": f.filename, "bytes": f.bytes})
            garbage.models = sorted(m for m in provider.list_models()
                                    if provider.owns_model(m) and m in ours and m not in referenced_models)
            if provider.capabilities.deployment:
                garbage.deployments = [{"id": d.id, "model": d.model, "state": d.state}
                                       for d in provider.list_deployments()
                                       if provider.owns_deployment(d) and d.id not in referenced_deployments]
            if delete:
                for dep in garbage.deployments or []:
                    provider.undeploy(dep["id"])
                    for receipt in state.receipts("deployments"):
                        if receipt.get("id") == dep["id"] and receipt.get("status") != "deleted":
                            state.save_receipt(scope, "deployments", receipt["key"], {**receipt, "status": "deleted"})
                for f in garbage.files:
                    provider.delete_file(f["id"])
                for model in garbage.models:
                    provider.delete_model(model)
                garbage.deleted = True
            out.append(garbage)
        finally:
            provider.close()
    return out


def models(root: Path) -> list[dict[str, Any]]:
    """The models the lockfiles name, with provider status and shutdown date: the API's model
    data where it gives one, else the base-model table (``ftspec.data.shutdown``)."""
    from ftspec.data.shutdown import lifecycle
    from ftspec.providers import provider_for_spec
    from ftspec.spec import load_spec
    rows = []
    for spec_path, lock in locked_specs(root):
        model = lock.get("model")
        api_shutdown = None
        status = "unknown"
        if model:
            try:
                provider = provider_for_spec(load_spec(spec_path), project_root=root)
                try:
                    found = provider.model_status(model)
                    status = "available" if found["exists"] else "missing"
                    api_shutdown = found.get("shutdown_date")
                finally:
                    provider.close()
            except FtspecError as exc:
                status = f"unknown ({exc.message})"
        base = lifecycle(lock["base_model"], lock["provider"])
        life = lifecycle(model or lock["base_model"], lock["provider"], api_shutdown=api_shutdown, on=base.on)
        rows.append({"spec": spec_path.relative_to(root).as_posix(), "provider": lock["provider"],
                     "base_model": lock["base_model"], "model": model, "status": status,
                     "base_model_shutdown": base.shutdown.isoformat() if base.shutdown else None,
                     "shutdown": life.to_json()["shutdown"], "shutdown_source": life.shutdown_source,
                     "days_left": life.days_left, "today": life.on.isoformat(),
                     "jobs_end": base.to_json()["jobs_end"], "accepts_jobs": base.accepts_jobs})
    return rows
