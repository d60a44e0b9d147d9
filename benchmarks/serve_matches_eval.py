"""Does ``ftspec serve`` answer as ``ftspec eval`` measured? Checked on a built spec's own reports.

After a build (the README's main job: ``ftspec build specs/support.yaml``), this starts
``ftspec serve SPEC`` on 127.0.0.1, sends every chat case of the spec's committed eval reports
(``reports/<spec>/<set>.json``) through the official ``openai`` client with the set's own sampling,
and compares each answer with the text the report recorded for the locked model. Prints the
agreement per eval set and exits 1 on any difference.

    .venv/bin/python benchmarks/serve_matches_eval.py --spec specs/support.yaml
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bench_serve import Served  # the same subprocess wrapper the throughput benchmark uses


def recorded_cases(report: dict) -> list[tuple[str, list[dict], str]]:
    """(case id, input messages, recorded answer) of the locked model's default variant."""
    rows = []
    for case in report["cases"]:
        for result in case.get("results", []):
            if result.get("model") == report["model"] and result.get("variant", "default") == "default" \
                    and result.get("outputs") and isinstance(case.get("input"), list):
                rows.append((case["id"], case["input"], result["outputs"][0]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path("specs/support.yaml"))
    parser.add_argument("--limit", type=int, default=0, help="at most this many cases per eval set (0: all)")
    args = parser.parse_args()
    import openai

    spec = args.spec.resolve()
    reports = sorted((spec.parent.parent / "reports" / spec.stem).glob("*.json"))
    if not reports:
        print(f"{spec}: no eval reports under reports/{spec.stem}/ (build the spec first)", file=sys.stderr)
        return 1
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    server = Served(spec, env, [])
    differing = 0
    try:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=600)
        for path in reports:
            report = json.loads(path.read_text(encoding="utf-8"))
            if report["model"] != server.model:
                print(f"{path.name}: recorded for {report['model']}, the server serves {server.model}; skipped")
                continue
            cases = recorded_cases(report)[: args.limit or None]
            sampling = report.get("sampling") or {}
            same = 0
            for case_id, messages, recorded in cases:
                answer = client.chat.completions.create(
                    model=server.model, messages=messages, temperature=sampling.get("temperature", 0),
                    max_tokens=sampling.get("max_tokens", 256), seed=sampling.get("seed"),
                ).choices[0].message.content
                if answer == recorded:
                    same += 1
                else:
                    print(f"  {path.stem}/{case_id}: served {answer!r} != recorded {recorded!r}")
            differing += len(cases) - same
            print(f"eval '{path.stem}': {same}/{len(cases)} served answers identical to the report")
    finally:
        server.stop()
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
