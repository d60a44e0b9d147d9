"""``ftspec plan SPEC``: tokens, epochs, billed tokens and cost; ``--json`` for machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ftspec.cli.output import emit_json, json_option


def extra_sections(spec, dataset=None) -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(title, [(name, detail)])]``: the build graph's "what would run" section, from the
    dataset already built in memory for the plan (so it is built once)."""
    from ftspec.graph.status import plan_actions

    actions = plan_actions(spec, dataset=dataset)
    return [("what would run", [(str(a), str(b)) for a, b in actions])] if actions else []


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:,.4f}{unit}" if unit == " USD" else f"{value:,.2f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def render_table(data: dict[str, Any], sections: list) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"plan: {data['spec']} ({data['provider']} {data['base_model']})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    ex = data["examples"]
    table.add_row("examples", f"train {ex['train']:,}, validation {ex['validation']:,}")
    tok = data["tokens"]
    label = "exact" if tok["exact"] else "ESTIMATE"
    table.add_row("tokenizer", f"{tok['tokenizer']} ({label})")
    for split in ("train", "validation"):
        d = tok[split]
        table.add_row(f"tokens/example ({split})",
                      f"min {d['min']:,}  mean {d['mean']:,}  p50 {d['p50']:,}  p90 {d['p90']:,}  max {d['max']:,}  total {d['total']:,}")
    table.add_row("per-example limit", _fmt(data["per_example_limit"]))
    table.add_row("epochs", f"{data['epochs']}" + (" (auto)" if data["epochs_auto"] else ""))
    hp = ", ".join(f"{k}={v}" for k, v in data["hyperparameters"].items() if k != "n_epochs")
    table.add_row("hyperparameters", hp)
    table.add_row("billed tokens", f"{data['billed_tokens']:,} ({data['billed_tokens_note']})")
    table.add_row("training price", _fmt(data["price_per_1m_training"], " USD / 1M tokens"))
    table.add_row("estimated cost", _fmt(data["estimated_cost_usd"], " USD"))
    if "moderation" in data:
        table.add_row("moderation", data["moderation"])
    for step in data.get("model_calls") or []:
        exact = "" if step["prompt_tokens_exact"] else " (ESTIMATE)"
        table.add_row(f"model calls: {step['step']}",
                      f"{step['provider']}:{step['model']}: {step['to_make']:,} to make, {step['cached']:,} cached; "
                      f"{step['prompt_tokens']:,} prompt tokens{exact}, at most "
                      f"{_fmt(step['max_completion_tokens'])} completion tokens; "
                      f"cost {_fmt(step['estimated_cost_usd'], ' USD')}")
    console.print(table)
    for title, rows in sections:
        extra = Table(title=title, show_header=False)
        extra.add_column("task", style="bold")
        extra.add_column("why")
        for row in rows:
            extra.add_row(*row)
        console.print(extra)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def plan(spec_path: Path, as_json: bool) -> None:
    """Examples, token distribution, epochs, billed tokens and estimated cost for SPEC."""
    from ftspec.data.plan import plan as make_plan
    from ftspec.providers import spec_token_counter
    from ftspec.spec.loader import load_spec

    spec = load_spec(spec_path)
    from ftspec.data.pipeline import build_dataset

    with spec_token_counter(spec) as counter:
        dataset = build_dataset(spec, None, counter=counter)
    data = make_plan(spec, result=dataset)
    sections = extra_sections(spec, dataset)
    if as_json:
        if sections:
            data["extra_sections"] = {title: rows for title, rows in sections}
        emit_json(data)
    else:
        render_table(data, sections)
