"""``ftspec adopt openai``: thin wrapper over ``ftspec.graph.adopt``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click


@click.group()
def adopt() -> None:
    """Adopt fine-tuned models made outside ftspec: data, spec and lockfile per model."""


@adopt.command("openai")
@click.option("--job", "job_ids", multiple=True, metavar="ID", help="Adopt only this job (repeatable).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Only jobs created on or after this date (UTC).")
@click.option("--base-url", default=None, help="API base URL (default: OpenAI's).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
              help="Environment variable holding the API key (the key itself is never written).")
def adopt_openai(job_ids: tuple[str, ...], since, base_url: str | None, api_key_env: str) -> None:
    """Write data/adopted/NAME/, specs/NAME.yaml and specs/NAME.lock for each succeeded job.

    \b
    OpenAI takes no new fine-tuning jobs from 2027-01-06 and shuts gpt-4o, gpt-4o-mini,
    gpt-4.1 and gpt-4.1-mini fine-tunes down on 2027-01-14. Adopting creates and pays for
    nothing: `ftspec build` on an adopted spec is a no-op. Failed, cancelled or deleted-file
    jobs are one `note:` line each. Then, while the model still answers:
      ftspec eval specs/NAME.yaml --record-baseline
      ftspec migrate specs/NAME.yaml --to local     (or a hosted provider)
    Runbook: docs/migrate-from-openai.md
    """
    from ftspec.graph.adopt import adopt_openai as run
    from ftspec.project import project_root

    root = project_root(Path.cwd())
    settings = {"api_key_env": api_key_env, **({"base_url": base_url} if base_url else {})}
    day: date | None = since.date() if since else None
    result = run(root, settings, job_ids=job_ids, since=day, echo=click.echo)
    click.echo(f"adopted {len(result.adopted)} model(s), skipped {len(result.notes)} job(s)")
