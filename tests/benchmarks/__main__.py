"""Run every benchmark and write docs/benchmarks.md (see tests/benchmarks/__init__.py).

Each suite runs in a process of its own (common.run_apart), so that none inherits what another left in this one: the
models it loaded (SmolLM2 and transformers' reference models, about 2 GB), the torch and garbage-collector settings its
app set, its threads. The classroom load's client shares the server's two cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from tests.benchmarks import api, attribution, browser, forward, http, lab, labtrain, load, roles, startup
from tests.benchmarks.common import machine, run_apart

ROOT = Path(__file__).resolve().parents[2]
SUITES = {"forward": forward.run, "api": api.run, "http": http.run, "startup": startup.run, "browser": browser.run,
          "load": load.run, "attribution": attribution.run, "roles": roles.run,
          "lab": lab.run, "labtrain": labtrain.run}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    p.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these suites")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--quick", action="store_true", help="fewer runs and a shorter load test (not for the record)")
    args = p.parse_args(argv)
    sections = [f"# Benchmarks\n\nWritten by `python -m tests.benchmarks` on "
                f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.\n\nMachine: {machine()}.\n"]
    for name in args.only or list(SUITES):
        print(f"== {name}", file=sys.stderr, flush=True)
        sections.append(run_apart(SUITES[name], args.quick))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(sections), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
