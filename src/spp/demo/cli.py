"""``spp demo``: the whole matched-arm study at tiny scale on CPU, offline, in minutes (``spp experiment`` on the
embedded recipe ``spp.demo.DEMO_RECIPE``), then the method report.

    spp demo                                                   # everything, under outputs/demo/
    spp demo --output_dir /tmp/demo --until pretrain           # any field of spp experiment overrides the recipe
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``spp demo [--output_dir DIR] [overrides]``: ``spp experiment`` on the embedded tiny recipe."""
    import time

    from spp.demo import DEMO_RECIPE
    from spp.demo.report import print_demo_summary, write_demo_report
    from spp.experiment.cli import parse
    from spp.experiment.runner import run_experiment

    config = parse(["--config", str(DEMO_RECIPE), *(argv or [])], stage="demo")
    start = time.perf_counter()
    statuses = run_experiment(config)
    if not config.dry_run:
        method = write_demo_report(config)  # the method's measures and the emergence curves (spp curves)
        print_demo_summary(config, statuses, time.perf_counter() - start, method)
    return 0
