"""Layer 6: the ``ftspec`` command. Thin: parse options, call the library, print.

Subcommands are imported lazily (``COMMANDS`` maps a name to ``module:function``) so that
``ftspec --help`` imports neither openai nor torch. Exit codes: 0 ok, 1 spec/data/provider
errors, 2 usage, 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ftspec import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, short help shown by --help without importing the module)
    "init": ("ftspec.cli.init_cmd:init", "Scaffold a spec with sample data."),
    "validate": ("ftspec.cli.data_cmds:validate", "Validate specs and their data."),
    "dataset": ("ftspec.cli.data_cmds:dataset", "Build the dataset files and print their sha256."),
    "plan": ("ftspec.cli.plan_cmd:plan", "Tokens, epochs, billed tokens, cost and what would run."),
    "review": ("ftspec.cli.review_cmd:review", "Write the human review page and decisions file."),
    "build": ("ftspec.cli.build_cmds:build", "Build specs: dataset, upload, job, model, evals, lock."),
    "status": ("ftspec.cli.build_cmds:status", "Show which tasks are up to date, and why not."),
    "cancel": ("ftspec.cli.build_cmds:cancel", "Cancel the spec's running training job."),
    "gc": ("ftspec.cli.build_cmds:gc", "List (and with --yes delete) unreferenced remote files and models."),
    "models": ("ftspec.cli.build_cmds:models", "The models your lockfiles name, with their status."),
    "sweep": ("ftspec.cli.sweep_cmd:sweep", "Training sweeps: apply a variant's hyperparameters to the spec."),
    "export": ("ftspec.cli.export_cmd:export", "Export a local model (peft, merged, gguf-lora, ollama); --check its answers."),
    "serve": ("ftspec.cli.serve_cmd:serve", "Serve the spec's local model behind the OpenAI API (/v1)."),
    "eval": ("ftspec.cli.eval_cmds:eval_", "Run the spec's evals (optionally against any model id)."),
    "evals": ("ftspec.cli.evals_cmds:evals", "Export the spec's eval sets for other tools (promptfoo)."),
    "report": ("ftspec.cli.eval_cmds:report", "Show or open the eval HTML report."),
    "diff": ("ftspec.cli.diff_cmd:diff", "Compare two revisions (or two specs): spec, data, model, evals."),
    "adopt": ("ftspec.cli.adopt_cmd:adopt", "Adopt fine-tuned models made outside ftspec (openai)."),
    "migrate": ("ftspec.cli.migrate_cmd:migrate", "Write a spec that rebuilds a model on another provider."),
    "remote": ("ftspec.cli.remote_cmds:remote", "Declare artifact remotes (s3://, gs://, a folder...)."),
    "push": ("ftspec.cli.remote_cmds:push", "Upload the models and datasets the lockfiles reference."),
    "pull": ("ftspec.cli.remote_cmds:pull", "Fetch and verify the models and datasets the lockfiles reference."),
    "track": ("ftspec.cli.track_cmd:track", "Log what the lockfiles record to MLflow (backfill; one run per job)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[name][0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftspec")
@click.option("-v", "--verbose", count=True, help="More output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """ftspec: build fine-tuned models from a YAML spec, incrementally, on any provider.

    \b
    Exit codes: 0 ok, 1 spec, data or provider error, 2 usage error, 130 interrupted.
    """
    ctx.obj = {"verbosity": -1 if quiet else verbose}


def main(argv: list[str] | None = None) -> None:
    """Console entry point: the one place where errors become exit codes."""
    from ftspec.errors import FtspecError

    try:
        cli.main(args=argv, prog_name="ftspec", standalone_mode=False)
    except FtspecError as exc:
        for line in exc.lines():
            click.echo(f"error: {line}" if not line.startswith("hint:") else line, err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(141)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if os.environ.get("FTSPEC_RAISE_ERRORS"):
            raise
        click.echo(f"error: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("hint: set FTSPEC_RAISE_ERRORS=1 to see the traceback, and report it", err=True)
        sys.exit(70)
    sys.exit(0)
