"""Shutdown dates, the 90-day warning and the end of new jobs: one module, "today" injectable."""

from __future__ import annotations

import datetime as dt

import pytest

from ftspec.data import shutdown
from ftspec.errors import FtspecError

MINI = "gpt-4o-mini-2024-07-18"


def test_today_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("FTSPEC_TODAY", "2027-01-07")
    assert shutdown.today() == dt.date(2027, 1, 7)
    monkeypatch.setenv("FTSPEC_TODAY", "next tuesday")
    with pytest.raises(FtspecError, match=r"^FTSPEC_TODAY='next tuesday' is not a date; use YYYY-MM-DD"):
        shutdown.today()
    monkeypatch.delenv("FTSPEC_TODAY")
    assert shutdown.today() == dt.date.today()


def test_fine_tunes_follow_their_base_model_and_the_api_wins():
    life = shutdown.lifecycle(f"ft:{MINI}:org:support:abc", "openai", on=dt.date(2026, 12, 2))
    assert (life.base_model, life.shutdown, life.shutdown_source, life.days_left) == (
        MINI, dt.date(2027, 1, 14), "table", 43)
    assert life.jobs_end == dt.date(2027, 1, 6) and life.accepts_jobs
    api = shutdown.lifecycle(f"ft:{MINI}:org:support:abc", "openai", api_shutdown="2027-01-10",
                             on=dt.date(2026, 12, 2))
    assert (api.shutdown, api.shutdown_source, api.days_left) == (dt.date(2027, 1, 10), "api", 39)
    # the table's dates are OpenAI's: the same snapshot on Azure or on this machine has none
    assert shutdown.lifecycle(MINI, "azure").shutdown is None
    assert shutdown.lifecycle("gemma-3-270m", "local").to_json()["jobs_end"] is None


def test_jobs_close_on_the_first_day_and_unknown_openai_models_close_too():
    assert shutdown.lifecycle(MINI, "openai", on=dt.date(2027, 1, 5)).accepts_jobs
    assert not shutdown.lifecycle(MINI, "openai", on=dt.date(2027, 1, 6)).accepts_jobs
    # a snapshot the table does not know still falls under OpenAI's end of new jobs
    unknown = shutdown.lifecycle("gpt-9-2030-01-01", "openai", on=dt.date(2027, 2, 1))
    assert (unknown.shutdown, unknown.jobs_end, unknown.accepts_jobs) == (None, dt.date(2027, 1, 6), False)
    # babbage-002 stopped taking new training runs long before its shutdown
    assert shutdown.lifecycle("babbage-002", "openai", on=dt.date(2026, 1, 1)).jobs_end == dt.date(2024, 10, 28)
    # gpt-3.5-turbo-1106 shuts down before OpenAI's end of new jobs: its shutdown ends training
    assert shutdown.lifecycle("gpt-3.5-turbo-1106", "openai").jobs_end == dt.date(2026, 9, 28)


def test_warnings_within_90_days_and_after():
    assert shutdown.shutdown_warnings("specs/a.yaml", MINI, "openai", on=dt.date(2026, 10, 1)) == []
    soon = shutdown.shutdown_warnings("specs/a.yaml", MINI, "openai", model=f"ft:{MINI}:o:s:1",
                                      on=dt.date(2026, 12, 2))
    assert soon == [
        f"specs/a.yaml: base model {MINI} shuts down on 2027-01-14 (in 43 days), and its fine-tune "
        f"ft:{MINI}:o:s:1 with it; record its answers (ftspec eval specs/a.yaml --record-baseline) "
        "and move it (ftspec migrate specs/a.yaml --to local)",
        f"specs/a.yaml: openai accepts no new fine-tuning job on {MINI} from 2027-01-06 (in 35 days); "
        "a change that needs a new job cannot be built there",
    ]
    late = shutdown.shutdown_warnings("specs/a.yaml", MINI, "openai", on=dt.date(2027, 1, 20))
    assert late[0].startswith(f"specs/a.yaml: base model {MINI} shut down on 2027-01-14 (6 days ago)")
    assert f"accepts no new fine-tuning job on {MINI} since 2027-01-06" in late[1] and "(14 days ago)" in late[1]
    assert shutdown.shutdown_warnings("specs/b.yaml", "gemma-3-270m", "local", on=dt.date(2027, 6, 1)) == []


def test_refusal_names_the_date_and_the_way_out():
    assert shutdown.refusal("specs/a.yaml", MINI, "openai", on=dt.date(2027, 1, 5)) is None
    assert shutdown.refusal("specs/a.yaml", MINI, "openai", on=dt.date(2027, 1, 6)) == (
        f"specs/a.yaml: openai accepts no new fine-tuning job on {MINI} since 2027-01-06, and this build "
        "needs one; nothing was uploaded. Rebuild it elsewhere: ftspec migrate specs/a.yaml --to local")
    assert shutdown.refusal("specs/b.yaml", "gemma-3-270m", "local", on=dt.date(2030, 1, 1)) is None
