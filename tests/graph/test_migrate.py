"""``ftspec migrate`` on an adopted, recorded OpenAI model (schema-checked fake on loopback):
the new spec beside the old one, the per-provider hyperparameter mapping in comments, the
baseline it points at, idempotence, and the one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from conftest import run_cli
from test_baseline import adopted_project, seed_org

from ftspec.providers import provider_class, provider_names


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def recorded(server, tmp_path) -> Path:
    seed_org(server)
    project = adopted_project(server, tmp_path)
    out = run_cli(["eval", "specs/support.yaml", "--record-baseline"], project)
    assert out.returncode == 0, out.stderr
    return project


def test_migrate_to_local_writes_a_spec_beside_the_old_one(recorded, server):
    project = recorded
    old_spec, old_lock = project / "specs/support.yaml", project / "specs/support.lock"
    before = (_sha(old_spec), _sha(old_lock))
    out = run_cli(["migrate", "specs/support.yaml", "--to", "local"], project)
    assert out.returncode == 0, out.stderr
    assert "wrote: specs/support-local.yaml (provider local, base model gemma-3-270m, baseline " \
           "../baselines/support.json)" in out.stdout
    assert (_sha(old_spec), _sha(old_lock)) == before  # the record of what ran is untouched
    new = project / "specs/support-local.yaml"
    text = new.read_text()
    data = yaml.safe_load(text)
    old = yaml.safe_load(old_spec.read_text())
    assert data["name"] == "support-local" and data["provider"] == "local" and data["base_model"] == "gemma-3-270m"
    assert data["sources"] == old["sources"] and data["template"] == old["template"] and data["split"] == old["split"]
    assert data["hyperparameters"] == {"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 1.0}
    assert [e["name"] for e in data["evals"]] == ["heldout"] and "build" not in data["evals"][0]
    assert data["evals"][0]["cases"] == old["evals"][0]["cases"]
    assert data["baseline"] == "../baselines/support.json" and "providers" not in data
    assert "# Migrated by `ftspec migrate` from support.yaml (provider openai" in text
    assert "learning_rate_multiplier 1.8 scaled openai's own base rate" in text and "not a learning rate" in text
    assert "AdamW at 2e-4 x multiplier" in text
    assert f"model {server.jobs[next(iter(server.jobs))].obj['fine_tuned_model']}" in text
    assert "ftspec diff specs/support.yaml specs/support-local.yaml" in text
    valid = run_cli(["validate", "specs/support-local.yaml"], project)
    assert valid.returncode == 0, valid.stderr + valid.stdout

    again = run_cli(["migrate", "specs/support.yaml", "--to", "local"], project)
    assert again.returncode == 0 and again.stdout.startswith("unchanged: specs/support-local.yaml")
    assert new.read_text() == text

    tuned = text.replace("n_epochs: 3", "n_epochs: 5")  # hand tuning is never lost silently
    new.write_text(tuned, encoding="utf-8")
    refused = run_cli(["migrate", "specs/support.yaml", "--to", "local"], project, {"FTSPEC_RAISE_ERRORS": ""})
    assert refused.returncode == 1 and refused.stderr.startswith(
        "error: migrate: specs/support-local.yaml already exists and differs from what this migration writes")
    assert new.read_text() == tuned
    forced = run_cli(["migrate", "specs/support.yaml", "--to", "local", "--force"], project)
    assert forced.returncode == 0 and forced.stdout.startswith("wrote: ") and new.read_text() == text


def test_every_registered_hosted_provider_has_a_mapping(recorded):
    """Each provider module owns its mapping through the class hook; a provider without a table
    default needs --base-model, one with it just works."""
    project = recorded
    hosted = [n for n in provider_names() if n not in ("openai", "azure", "local")]
    assert "together" in hosted
    for name in hosted:
        cls = provider_class(name)
        args = ["migrate", "specs/support.yaml", "--to", name]
        if cls.default_base_model() is None:
            args += ["--base-model", "some/model"]
        out = run_cli(args, project)
        assert out.returncode == 0, (name, out.stderr)
        text = (project / f"specs/support-{name}.yaml").read_text()
        assert "not a learning rate" in text, name
        data = yaml.safe_load(text)
        assert data["provider"] == name and data["baseline"] == "../baselines/support.json"
        assert data["hyperparameters"]["learning_rate_multiplier"] == 1.0
    together = yaml.safe_load((project / "specs/support-together.yaml").read_text())
    assert together["base_model"] == "meta-llama/Llama-3.2-1B-Instruct"
    assert "batch_size" not in together["hyperparameters"]  # Together picks ("max"), said in a comment
    assert "Together's 1e-05" in (project / "specs/support-together.yaml").read_text() or \
        "together's default learning rate (1e-05)" in (project / "specs/support-together.yaml").read_text()


def test_migrate_explicit_base_model_and_out(recorded, tiny_model):
    project = recorded
    out = run_cli(["migrate", "specs/support.yaml", "--to", "local", "--base-model", tiny_model,
                   "--out", "specs/tiny.yaml", "--json"], project)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["spec"] == "specs/tiny.yaml" and result["base_model"] == tiny_model and result["changed"]
    assert "(--base-model)" in (project / "specs/tiny.yaml").read_text()


def test_migrate_without_a_baseline_names_the_command(server, tmp_path):
    seed_org(server)
    project = adopted_project(server, tmp_path)
    out = run_cli(["migrate", "specs/support.yaml", "--to", "local"], project, {"FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1
    first = out.stderr.strip().splitlines()[0]
    assert first.startswith("error: specs/support.yaml: no recorded baseline of the old model") and \
        first.endswith("ftspec eval specs/support.yaml --record-baseline"), first
    assert not (project / "specs/support-local.yaml").exists()
    forced = run_cli(["migrate", "specs/support.yaml", "--to", "local", "--no-baseline"], project)
    assert forced.returncode == 0, forced.stderr
    data = yaml.safe_load((project / "specs/support-local.yaml").read_text())
    assert "baseline" not in data


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "nowhere"], "error: migrate: unknown provider 'nowhere'"),
    (["--to", "openai"], "error: specs/support.yaml: the spec is already on provider 'openai'"),
    (["--to", "local", "--out", "elsewhere.yaml"], "error: migrate: --out elsewhere.yaml must be in the old spec's folder"),
    (["--to", "local", "--out", "specs/mine.yaml"], "error: migrate: specs/mine.yaml already exists and was not written"),
])
def test_bad_migrations_are_one_line(recorded, args, message):
    project = recorded
    (project / "specs/mine.yaml").write_text("# mine\n", encoding="utf-8")
    out = run_cli(["migrate", "specs/support.yaml", *args], project, {"FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1, out.stdout
    assert out.stderr.startswith(message), out.stderr
    assert "Traceback" not in out.stderr
    assert (project / "specs/mine.yaml").read_text() == "# mine\n"
    assert not (project / "specs/support-local.yaml").exists()


def test_help_and_runbook_agree():
    """``ftspec adopt openai --help``, ``ftspec migrate --help`` and docs/migrate-from-openai.md
    name the same options, dates and defaults."""
    import re

    from click.testing import CliRunner
    from graph_helpers import REPO

    from ftspec.cli import cli
    from ftspec.data.base_models import provider_default_base_model

    doc = (REPO / "docs" / "migrate-from-openai.md").read_text(encoding="utf-8")
    runner = CliRunner()
    adopt_help = runner.invoke(cli, ["adopt", "openai", "--help"]).output
    migrate_help = runner.invoke(cli, ["migrate", "--help"]).output
    for text, command in ((adopt_help, "ftspec adopt openai"), (migrate_help, "ftspec migrate")):
        options = set(re.findall(r"^\s+(--[a-z-]+)", text, re.M)) - {"--help"}
        assert options, text
        for option in options:
            assert f"`{option}" in doc, f"{command} {option} is not in the runbook"
        assert "docs/migrate-from-openai.md" in text
    for day in ("2027-01-06", "2027-01-14"):
        assert day in adopt_help and f"**{day}**" in doc
    assert "gemma-3-270m" in migrate_help and "the bundled gemma-3-270m" in doc
    for name in provider_names():
        default = provider_default_base_model(name)
        if default and name != "local":
            assert default in doc, f"the runbook does not name {name}'s default base model {default}"
    for step in ("ftspec adopt openai", "--record-baseline", "ftspec migrate", "ftspec build", "ftspec diff",
                 "ftspec serve", "OpenAI-compatible"):
        assert step in doc
