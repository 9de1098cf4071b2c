"""``spp publish``, ``spp download`` and ``spp checkpoints``.

spp publish model out/spp_t0 --repo_id ORG/spp-t0-1.7b --tag v1.0
spp publish dataset data/augmented --repo_id ORG/spp-corpus --private
spp publish model out/spp_t0 --to_dir release/spp-t0-1.7b          # stage a release on an air-gapped cluster
spp download ORG/spp-t0-1.7b --revision step-0001000 --include "*.json" "*.safetensors" --to models/t0-1000
spp checkpoints ORG/spp-t0-1.7b                                     # also: spp checkpoints release/spp-t0-1.7b
"""

from __future__ import annotations

import sys

from spp.errors import SppConfigError
from spp.hub.access import redact
from spp.hub.run import (
    PUBLISH_KINDS,
    PUBLISH_USAGE,
    CheckpointsArguments,
    DownloadArguments,
    PublishArguments,
    publish_summary,
    run_checkpoints,
    run_download,
    run_publish,
)
from spp.recipes import parse_config

__all__ = [  # the argument classes' old home, kept importable
    "CheckpointsArguments",
    "DownloadArguments",
    "PublishArguments",
    "checkpoints_main",
    "download_main",
    "publish_main",
]


def _positional(argv: list[str], name: str) -> list[str]:
    """``VALUE --x y`` -> ``--name VALUE --x y``: the HF parsers only take named fields."""
    if argv and not argv[0].startswith("-"):
        return [f"--{name}", argv[0], *argv[1:]]
    return argv


def _run(action, stage: str) -> int:
    """Run ``action``; a failure other than bad input prints one redacted line and returns 1."""
    try:
        action()
    except SppConfigError:
        raise
    except Exception as err:
        print(f"spp {stage}: error: {redact(f'{type(err).__name__}: {err}')}", file=sys.stderr)
        return 1
    return 0


def publish_main(argv: list[str]) -> int:
    """``spp publish model|dataset PATH (--repo_id ORG/NAME | --to_dir DIR) [--revision] [--tag] [--private]``."""
    if argv and argv[0] in ("-h", "--help"):
        print(
            f"usage: {PUBLISH_USAGE}\n\n`spp publish model --help` and `spp publish dataset --help` list every option."
        )
        return 0
    if not argv or argv[0] not in PUBLISH_KINDS:
        raise SppConfigError("the first argument must be 'model' or 'dataset'", fix=f"usage: {PUBLISH_USAGE}")
    kind, rest = argv[0], _positional(argv[1:], "path")
    (args,) = parse_config([PublishArguments], [*rest, "--kind", kind], prog=f"spp publish {kind}")
    return _run(lambda: print(publish_summary(run_publish(args))), "publish")


def download_main(argv: list[str]) -> int:
    """``spp download ORG/NAME|EXPORT_DIR --to DIR [--revision step-0001000] [--include PATTERN ...]``."""
    (args,) = parse_config([DownloadArguments], _positional(argv, "repo_id"), prog="spp download")

    def action() -> None:
        files = run_download(args)
        print(f"{len(files)} files of {args.repo_id}@{args.revision} in {args.to}")

    return _run(action, "download")


def checkpoints_main(argv: list[str]) -> int:
    """``spp checkpoints ORG/NAME|EXPORT_DIR``: one ``step-NNNNNNN`` branch per line, in step order."""
    (args,) = parse_config([CheckpointsArguments], _positional(argv, "repo_id"), prog="spp checkpoints")
    return _run(lambda: print("\n".join(run_checkpoints(args))), "checkpoints")
