"""``spp STAGE --help`` wall time for every stage: cold (a fresh help cache: the text is rendered, importing what the
stage's fields need) and warm (the cached text), each the median of ``--repeats`` runs of a new ``python -m spp``
process, as a user types it. The load average is printed before and after: the machine may be shared.

    python benchmarks/cli_help.py
    python benchmarks/cli_help.py --repeats 5 --stages pretrain sft eval

Last line: ``cli help: slowest cold <stage> <s> s, slowest warm <stage> <s> s, load <before>/<after>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import describe  # noqa: E402

from spp.stages import commands  # noqa: E402


def seconds(stage: str, cache: str) -> float:
    env = {**os.environ, "SPP_CACHE": cache, "SPP_HELP_CACHE": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "spp", stage, "--help"], env=env, capture_output=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"spp {stage} --help exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    return took


def measure(stage: str, repeats: int) -> tuple[float, float]:
    """Median cold and warm seconds of ``spp STAGE --help``."""
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(seconds(stage, cache))
            warm.append(seconds(stage, cache))
    return statistics.median(cold), statistics.median(warm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", nargs="+", default=list(commands()))
    args = parser.parse_args()
    print(describe("torch", "transformers", "trl", "accelerate", "datasets", "huggingface_hub"))
    before = os.getloadavg()[0]
    print(f"load average before: {before:.2f} ({os.cpu_count()} logical cores); median of {args.repeats} runs")
    print(f"{'stage':<20} {'cold s':>7} {'warm s':>7}")
    results = {}
    for stage in args.stages:
        results[stage] = measure(stage, args.repeats)
        print(f"{stage:<20} {results[stage][0]:>7.2f} {results[stage][1]:>7.2f}", flush=True)
    after = os.getloadavg()[0]
    cold = max(results, key=lambda s: results[s][0])
    warm = max(results, key=lambda s: results[s][1])
    print(f"load average after: {after:.2f}")
    print(f"cli help: slowest cold {cold} {results[cold][0]:.2f} s, slowest warm {warm} {results[warm][1]:.2f} s, "
          f"load {before:.2f}/{after:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
