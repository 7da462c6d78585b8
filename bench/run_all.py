"""Every benchmark of issue 9, one after the other, each writing bench/results/<name>.json.

    python bench/run_all.py            # the full run (about 20 minutes on 2 cores)
    python bench/run_all.py --quick    # each in its quick mode (a few minutes)

Runs sync_cost.py (sync cost, floors, peers and the changes test), rate_limit.py and
alert_latency.py in that order, in fresh processes, writes their tables into
docs/performance.md (report.py), then prints every table again. A failing benchmark is reported
and the others still run; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BENCHMARKS = ("sync_cost.py", "rate_limit.py", "alert_latency.py")


def main(argv: list[str] | None = None) -> int:
    """Run them all; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's quick mode")
    args = parser.parse_args(argv)
    extra = ["--quick"] if args.quick else []
    outputs: list[tuple[str, int, str, float]] = []
    for name in BENCHMARKS:
        started = time.monotonic()
        print(f"== {name} {' '.join(extra)}", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, str(BENCH / name), *extra], stdout=subprocess.PIPE, text=True
        )
        outputs.append((name, done.returncode, done.stdout, time.monotonic() - started))
    subprocess.run([sys.executable, str(BENCH / "report.py")])  # docs/performance.md
    failed = 0
    for name, code, stdout, seconds in outputs:
        print(f"\n== {name} ({seconds:.0f} s){'' if code == 0 else f' FAILED ({code})'}")
        print(stdout.rstrip())
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
