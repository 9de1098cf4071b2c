"""What ``spp demo`` prints after the run: the comparison table, the hub export, and what the numbers do not mean."""

from __future__ import annotations

from spp.experiment.config import ExperimentConfig


def print_demo_summary(config: ExperimentConfig, statuses: dict[str, str], seconds: float) -> None:
    """The comparison table and the local hub's repos and branches."""
    from spp.hub.export import LocalExport, is_export

    root = config.root
    report = root / "comparison" / "comparison.md"
    print(f"\nspp demo finished in {seconds:.0f} s ({sum(s == 'done' for s in statuses.values())} steps done)")
    if report.is_file():
        print(f"\n{report.read_text(encoding='utf-8').strip()}\n")
    hub = root / "hub"
    for kind in ("datasets", "models"):
        for repo in sorted((hub / kind).glob("*")) if (hub / kind).is_dir() else []:
            if is_export(repo):
                refs = LocalExport(repo, repo_type=kind[:-1]).refs()
                print(f"hub {kind[:-1]:<7} {repo}  refs: {', '.join(refs)}")
    print(
        "\nTiny models trained for seconds on toy data: the ASR figures above are meaningless. The point is the"
        " pipeline: augment -> pretrain every arm -> identical SFT -> PEZ attack -> eval -> compare -> publish."
        f"\nOpen a checkpoint branch: spp download {hub / 'models' / (config.name + '-spp_t0')} --revision"
        " step-0000020 --to /tmp/step20"
    )
