"""When a model stops answering and when its provider stops training on it: the one place
``ftspec models``, ``build``, ``plan`` and ``status`` get shutdown dates, warnings and the
refusal to start a job that can no longer be created.

Dates come from the API's model data where the caller has it (OpenAI's ``Model.shutdown_date``),
else from the base-model table (``base_models.json``): a fine-tune shuts down with its base
model. The table's dates apply only to the provider they were published for (Azure runs its own
schedule). "Today" is ``FTSPEC_TODAY`` (YYYY-MM-DD) when set, so tests and rehearsals can stand
on either side of a cutoff; otherwise the machine's date.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from ftspec.data.base_models import base_name, lookup, provider_jobs_end
from ftspec.errors import FtspecError

TODAY_ENV = "FTSPEC_TODAY"
WARN_DAYS = 90  # warn when a shutdown or the end of new jobs is this close (or past)


def today() -> dt.date:
    """``FTSPEC_TODAY`` when set (for tests and rehearsals), else the machine's date."""
    raw = os.environ.get(TODAY_ENV, "").strip()
    if not raw:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise FtspecError(f"{TODAY_ENV}={raw!r} is not a date; use YYYY-MM-DD or unset it") from None


@dataclass(frozen=True)
class Lifecycle:
    """One model's dates as seen on ``on``."""

    model: str
    base_model: str
    provider: str
    on: dt.date
    shutdown: dt.date | None = None
    shutdown_source: str | None = None  # "api" | "table"
    jobs_end: dt.date | None = None  # first day no new fine-tuning job is accepted
    jobs_end_source: str | None = None

    @property
    def days_left(self) -> int | None:
        return (self.shutdown - self.on).days if self.shutdown else None

    @property
    def accepts_jobs(self) -> bool:
        return self.jobs_end is None or self.on < self.jobs_end

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "base_model": self.base_model, "provider": self.provider,
                "today": self.on.isoformat(),
                "shutdown": self.shutdown.isoformat() if self.shutdown else None,
                "shutdown_source": self.shutdown_source, "days_left": self.days_left,
                "jobs_end": self.jobs_end.isoformat() if self.jobs_end else None,
                "accepts_jobs": self.accepts_jobs}


def lifecycle(model: str, provider: str, *, api_shutdown: str | None = None,
              on: dt.date | None = None) -> Lifecycle:
    """The dates of ``model`` (a base model or a fine-tune of one) on ``provider``."""
    now = on or today()
    base = base_name(model)
    info = lookup(model)
    ours = info is not None and info.provider == provider  # the table's dates are per provider
    shutdown, shutdown_source = None, None
    if api_shutdown:
        shutdown, shutdown_source = dt.date.fromisoformat(str(api_shutdown)[:10]), "api"
    elif ours and info is not None and info.shutdown:
        shutdown, shutdown_source = dt.date.fromisoformat(info.shutdown), "table"
    # the earliest of: the model's own end of training, the provider's, its shutdown
    ends: list[tuple[dt.date, str]] = []
    if ours and info is not None and info.jobs_end:
        ends.append((dt.date.fromisoformat(info.jobs_end), info.source))
    closing = provider_jobs_end(provider)
    if closing:
        ends.append((dt.date.fromisoformat(closing[0]), closing[1]))
    if shutdown:
        ends.append((shutdown, f"shutdown ({shutdown_source})"))
    jobs_end, jobs_source = min(ends) if ends else (None, None)
    return Lifecycle(model=model, base_model=base, provider=provider, on=now, shutdown=shutdown,
                     shutdown_source=shutdown_source, jobs_end=jobs_end, jobs_end_source=jobs_source)


def _when(day: dt.date, now: dt.date) -> str:
    days = (day - now).days
    if days > 0:
        return f"in {days} day{'s' if days != 1 else ''}"
    return "today" if days == 0 else f"{-days} day{'s' if days != -1 else ''} ago"


def shutdown_warnings(label: str, base_model: str, provider: str, *, model: str | None = None,
                      on: dt.date | None = None) -> list[str]:
    """Warnings for a spec (``label``) whose base model, or whose fine-tuned ``model``, shuts down
    or stops taking new jobs within ``WARN_DAYS`` (or already has)."""
    now = on or today()
    base = lifecycle(base_model, provider, on=now)
    out: list[str] = []
    if base.shutdown and (base.shutdown - now).days <= WARN_DAYS:
        verb = "shut down on" if base.shutdown <= now else "shuts down on"
        tune = f", and its fine-tune {model} with it" if model else ", and every fine-tune of it with it"
        out.append(f"{label}: base model {base.base_model} {verb} {base.shutdown} ({_when(base.shutdown, now)})"
                   f"{tune}; record its answers (ftspec eval {label} --record-baseline) and move it "
                   f"(ftspec migrate {label} --to local)")
    if base.jobs_end and (base.jobs_end - now).days <= WARN_DAYS and base.jobs_end != base.shutdown:
        since = "since" if not base.accepts_jobs else "from"
        out.append(f"{label}: {provider} accepts no new fine-tuning job on {base.base_model} {since} {base.jobs_end} "
                   f"({_when(base.jobs_end, now)}); a change that needs a new job cannot be built there")
    return out


def refusal(label: str, base_model: str, provider: str, *, on: dt.date | None = None) -> str | None:
    """The one-line reason a new job on ``base_model`` cannot be created on ``provider`` today,
    or None while it can."""
    life = lifecycle(base_model, provider, on=on)
    if life.accepts_jobs:
        return None
    return (f"{label}: {provider} accepts no new fine-tuning job on {life.base_model} since {life.jobs_end}, "
            f"and this build needs one; nothing was uploaded. Rebuild it elsewhere: "
            f"ftspec migrate {label} --to local")


def ensure_accepts_jobs(label: str, base_model: str, provider: str) -> None:
    """Raise before anything is uploaded or paid for when the provider takes no new jobs."""
    reason = refusal(label, base_model, provider)
    if reason:
        raise FtspecError(reason)
