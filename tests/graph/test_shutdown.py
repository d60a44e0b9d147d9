"""Shutdown awareness against the schema-checked fake: ``ftspec models`` shows dates and days
left (the API's ``shutdown_date`` first), build/plan/status warn inside 90 days, and a build
that needs a new job after OpenAI stops taking them is refused before anything is uploaded."""

from __future__ import annotations

import json

from conftest import run_cli, write_spec

MINI = "gpt-4o-mini-2024-07-18"
SOON = {"FTSPEC_TODAY": "2026-12-02"}  # 43 days before the shutdown, 35 before the end of jobs
CLOSED = {"FTSPEC_TODAY": "2027-01-06"}  # the first day OpenAI takes no new job
GONE = {"FTSPEC_TODAY": "2027-01-20"}


def _paid(server) -> tuple[int, int]:
    return server.count("POST", "/files"), server.count("POST", "/fine_tuning/jobs")


LABEL = "specs/support.yaml"  # as messages show it: relative to the working directory


def test_new_job_after_the_cutoff_is_refused_before_any_upload(server, tmp_path):
    spec = write_spec(tmp_path, server.url)
    out = run_cli(["build", str(spec)], tmp_path, {**CLOSED, "FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {LABEL}: openai accepts no new fine-tuning job on {MINI} since 2027-01-06, "
                      f"and this build needs one; nothing was uploaded. Rebuild it elsewhere: "
                      f"ftspec migrate {LABEL} --to local"], out.stderr
    assert "Traceback" not in out.stderr
    assert _paid(server) == (0, 0) and not server.files and not server.jobs  # no money spent
    assert not spec.with_suffix(".lock").exists()
    # the day before, the same build goes through (and warns)
    ok = run_cli(["build", str(spec)], tmp_path, {"FTSPEC_TODAY": "2027-01-05"})
    assert ok.returncode == 0, ok.stderr
    assert _paid(server) == (1, 1)
    assert f"warning: {LABEL}: base model {MINI} shuts down on 2027-01-14 (in 9 days)" in ok.stderr


def test_models_lists_dates_and_days_left_api_first(server, tmp_path):
    spec = write_spec(tmp_path, server.url)
    built = run_cli(["build", str(spec)], tmp_path, SOON)
    assert built.returncode == 0, built.stderr
    assert f"warning: {LABEL}: base model {MINI} shuts down on 2027-01-14 (in 43 days)" in built.stderr
    assert "openai accepts no new fine-tuning job on" in built.stderr and "(in 35 days)" in built.stderr
    model = json.loads(spec.with_suffix(".lock").read_text())["model"]
    server.shutdown_dates[model] = "2027-01-10"  # the API announces an earlier day for this one
    rows = json.loads(run_cli(["models", "--json"], tmp_path, SOON).stdout)
    assert rows == [{"spec": "specs/support.yaml", "provider": "openai", "base_model": MINI, "model": model,
                     "status": "available", "base_model_shutdown": "2027-01-14", "shutdown": "2027-01-10",
                     "shutdown_source": "api", "days_left": 39, "today": "2026-12-02",
                     "jobs_end": "2027-01-06", "accepts_jobs": True}]
    del server.shutdown_dates[model]
    server.deleted_models.add(model)  # gone from the API: the table's date is what is left
    text = run_cli(["models"], tmp_path, GONE)
    assert text.returncode == 0, text.stderr
    assert text.stdout.strip() == (f"specs/support.yaml: {model} [openai, base {MINI}, missing, shuts down "
                                   "2027-01-14 (shut down 6 days ago, per ftspec's base-model table); "
                                   "no new jobs since 2027-01-06]")


def test_after_the_cutoff_a_built_spec_is_a_noop_and_a_change_is_refused(server, tmp_path):
    spec = write_spec(tmp_path, server.url)
    assert run_cli(["build", str(spec)], tmp_path, SOON).returncode == 0
    paid = _paid(server)
    again = run_cli(["build", str(spec)], tmp_path, GONE)
    assert again.returncode == 0, again.stderr  # nothing new to create: nothing refused
    assert "nothing to do" in again.stderr and f"{MINI} shut down on 2027-01-14 (6 days ago)" in again.stderr
    status = run_cli(["status", "--json", str(spec)], tmp_path, GONE)
    [report] = json.loads(status.stdout)
    assert report["summary"] == "up to date" and report["refused"] is None
    assert any("shut down on 2027-01-14" in w for w in report["warnings"])

    write_spec(tmp_path, server.url, n_epochs=4)  # a change that needs a new job (same files)
    status = run_cli(["status", str(spec)], tmp_path, GONE)
    assert status.returncode == 0, status.stderr
    assert (f"warning: a build would be refused: {LABEL}: openai accepts no new fine-tuning job on {MINI} "
            "since 2027-01-06") in status.stderr
    plan = json.loads(run_cli(["plan", "--json", str(spec)], tmp_path, GONE).stdout)
    assert dict(plan["extra_sections"]["what would run"])["job"].startswith(f"REFUSED: {LABEL}: openai accepts")
    assert plan["shutdown"]["accepts_jobs"] is False and plan["shutdown"]["days_left"] == -6
    assert any("shut down on 2027-01-14" in w for w in plan["warnings"])
    refused = run_cli(["build", str(spec)], tmp_path, {**GONE, "FTSPEC_RAISE_ERRORS": ""})
    assert refused.returncode == 1 and "since 2027-01-06" in refused.stderr and "Traceback" not in refused.stderr
    assert _paid(server) == paid

    (tmp_path / "data" / "train.jsonl").write_text(  # new data: refused before the upload
        "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                         {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                for i in range(30)), encoding="utf-8")
    refused = run_cli(["build", str(spec)], tmp_path, {**GONE, "FTSPEC_RAISE_ERRORS": ""})
    assert refused.returncode == 1 and "nothing was uploaded" in refused.stderr
    assert _paid(server) == paid


def test_a_bad_today_is_one_line_naming_the_variable(server, tmp_path):
    spec = write_spec(tmp_path, server.url)
    out = run_cli(["build", str(spec)], tmp_path, {"FTSPEC_TODAY": "2027-13-01", "FTSPEC_RAISE_ERRORS": ""})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[0] == ("error: FTSPEC_TODAY='2027-13-01' is not a date; "
                                                  "use YYYY-MM-DD or unset it")
    assert _paid(server) == (0, 0)
