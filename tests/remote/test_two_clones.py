"""A teammate's clone pulls the model instead of retraining it; the lockfile stays byte-identical."""

from __future__ import annotations

import json

from .conftest import cli_env, clone, ftspec, git


def test_push_then_pull_in_a_second_clone_makes_no_training_run(trained, s3, remote_url, tmp_path):
    pusher = clone(trained, tmp_path / "pusher", remote_url, s3.endpoint)
    env_a = cli_env(trained["store"])
    lock = json.loads(trained["lock"].read_text())
    model, tree = lock["model"], lock["artifacts"]["model"]
    assert tree["remotes"] == [] and len(tree["sha256"]) == 64

    status = ftspec(["status", "specs/support.yaml"], pusher, env_a)
    assert status.returncode == 0, status.stderr
    assert f"model {model}" in status.stdout and "up to date" in status.stdout

    pushed = ftspec(["push"], pusher, env_a)
    assert pushed.returncode == 0, pushed.stderr
    assert "push: " in pushed.stderr and "B/s, ETA" in pushed.stderr  # the progress line
    assert f"pushed dataset train, dataset validation, model {model}" in pushed.stdout
    after = json.loads((pusher / "specs" / "support.lock").read_text())
    assert after["artifacts"]["model"] == {**tree, "remotes": ["origin"]}
    again = ftspec(["push"], pusher, env_a)  # nothing new: no bytes move
    assert again.returncode == 0 and "(0 B transferred)" in again.stdout, again.stderr
    git(pusher, "commit", "-qam", "pushed")

    # the teammate: a fresh clone and a fresh, empty local store
    git(tmp_path, "clone", "-q", str(pusher), "teammate")
    mate = tmp_path / "teammate"
    store_b = tmp_path / "store-b"
    env_b = cli_env(store_b)
    committed = (mate / "specs" / "support.lock").read_bytes()
    status = ftspec(["status", "specs/support.yaml"], mate, env_b)
    assert status.returncode == 0, status.stderr
    assert f"model {model}" in status.stdout and "in the remote 'origin', not here (pull)" in status.stdout

    built = ftspec(["build", "specs/support.yaml"], mate, env_b)
    assert built.returncode == 0, built.stderr
    assert f"pulled model {model} from remote 'origin'" in built.stderr and "no training run" in built.stderr
    assert "created job" not in built.stderr
    assert (mate / "specs" / "support.lock").read_bytes() == committed
    job_id = model.rsplit(":", 1)[1]
    assert [p.name for p in (store_b / "jobs").iterdir()] == [job_id]
    assert not (store_b / "jobs" / job_id / "worker.log").exists()  # no worker ever ran here
    assert (store_b / "models" / job_id / "adapter" / "adapter_model.safetensors").read_bytes() == (
        trained["store"] / "models" / job_id / "adapter" / "adapter_model.safetensors").read_bytes()
    status = ftspec(["status", "specs/support.yaml"], mate, env_b)
    assert f"model {model}" in status.stdout and "(pull)" not in status.stdout

    # a third clone that refuses to pull trains again, and says so
    git(tmp_path, "clone", "-q", str(pusher), "offline")
    env_c = cli_env(tmp_path / "store-c")
    rebuilt = ftspec(["build", "--no-pull", "specs/support.yaml"], tmp_path / "offline", env_c)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"--no-pull: not pulling model {model}" in rebuilt.stderr and "created job" in rebuilt.stderr


def test_export_on_another_machine_pulls_the_locked_model(trained, s3, remote_url, tmp_path):
    pusher = clone(trained, tmp_path / "pusher", remote_url, s3.endpoint)
    assert ftspec(["push"], pusher, cli_env(trained["store"])).returncode == 0
    git(pusher, "commit", "-qam", "pushed")
    git(tmp_path, "clone", "-q", str(pusher), "laptop")
    laptop = tmp_path / "laptop"
    out = ftspec(["export", "specs/support.yaml", "--format", "adapter", "--out", "exported"], laptop,
                 cli_env(tmp_path / "store-d"))
    assert out.returncode == 0, out.stderr
    model = json.loads((laptop / "specs" / "support.lock").read_text())["model"]
    assert f"pulled model {model} from remote 'origin'" in out.stderr
    job_id = model.rsplit(":", 1)[1]
    exported = {p.name for p in (laptop / "exported").rglob("*") if p.is_file()}
    assert "adapter_model.safetensors" in exported, exported
    assert (tmp_path / "store-d" / "models" / job_id / "manifest.json").is_file()
