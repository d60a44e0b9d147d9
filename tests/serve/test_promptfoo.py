"""promptfoo (from npm, pinned) as a second, independent client of ``ftspec serve``: its openai
provider with ``apiBaseUrl`` pointed at the server must get the answers ``ftspec eval`` recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from .conftest import eval_sampling

PROMPTFOO = "promptfoo@0.121.20"  # the newest release that runs on Node 20 (0.122+ needs Node >= 22.22)
INSTALL_TIMEOUT_S = 600
EVAL_TIMEOUT_S = 300


def _skip(reason: str) -> None:
    print(f"skipped: {reason}")
    pytest.skip(reason)


def _env(tmp_path) -> dict[str, str]:
    return {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(tmp_path / "promptfoo-home"), "NO_COLOR": "1",
            "OPENAI_API_KEY": "unused", "npm_config_update_notifier": "false"}


def test_promptfoo_openai_provider_gets_the_eval_answers(chat_server, project, tmp_path):
    npx = shutil.which("npx")
    if npx is None:
        _skip("npx (Node.js) is not installed")
    try:
        version = subprocess.run([npx, "--yes", PROMPTFOO, "--version"], capture_output=True, text=True,
                                 timeout=INSTALL_TIMEOUT_S, env=_env(tmp_path), cwd=tmp_path)
    except subprocess.TimeoutExpired:
        _skip(f"npx could not fetch {PROMPTFOO} within {INSTALL_TIMEOUT_S}s")
    if version.returncode != 0:
        _skip(f"npx could not run {PROMPTFOO}: {(version.stderr.strip().splitlines() or ['?'])[-1]}")

    model = project.lock("demo")["model"]
    sampling = eval_sampling(project, "demo")
    cases = project.report("demo")["cases"]
    config = {
        "description": "ftspec serve through promptfoo's openai provider",
        "prompts": ["{{question}}"],
        "providers": [{"id": f"openai:chat:{model}",
                       "config": {"apiBaseUrl": chat_server.url, "apiKey": "unused", **sampling}}],
        "tests": [{"vars": {"question": c["input"][0]["content"]},
                   "assert": [{"type": "javascript",
                               "value": f"output.trim() === {json.dumps(c['results'][0]['outputs'][0])}"}]}
                  for c in cases],
    }
    (tmp_path / "promptfooconfig.yaml").write_text(yaml.safe_dump(config, allow_unicode=False), encoding="utf-8")
    out = tmp_path / "results.json"
    done = subprocess.run(
        [npx, "--yes", PROMPTFOO, "eval", "-c", "promptfooconfig.yaml", "-o", str(out), "--no-cache",
         "--no-progress-bar", "--no-table", "--max-concurrency", "3"],
        capture_output=True, text=True, timeout=EVAL_TIMEOUT_S, env=_env(tmp_path), cwd=tmp_path)
    assert out.is_file(), done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    rows = results["results"]
    assert len(rows) == len(cases)
    failures = [(r.get("vars"), r.get("error"), (r.get("response") or {}).get("output")) for r in rows
                if not r.get("success")]
    assert failures == [], done.stdout[-2000:]
    assert results["stats"]["successes"] == len(cases)
    assert all((r.get("response") or {}).get("tokenUsage", {}).get("completion", 0) > 0 for r in rows)
    assert done.returncode == 0, done.stderr[-2000:]
