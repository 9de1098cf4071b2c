"""``spp publish``, ``spp download`` and ``spp checkpoints``.

spp publish model out/spp_t0 --repo_id ORG/spp-t0-1.7b --tag v1.0
spp publish dataset data/augmented --repo_id ORG/spp-corpus --private
spp publish model out/spp_t0 --to_dir release/spp-t0-1.7b          # stage a release on an air-gapped cluster
spp download ORG/spp-t0-1.7b --revision step-0001000 --include "*.json" "*.safetensors" --to models/t0-1000
spp checkpoints ORG/spp-t0-1.7b                                     # also: spp checkpoints release/spp-t0-1.7b
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from spp.errors import SppConfigError, check_output_dir
from spp.hub.access import redact
from spp.recipes import parse_config

logger = logging.getLogger("spp.hub")
PUBLISH_KINDS = ("model", "dataset")


@dataclass
class PublishArguments:
    path: str = field(default="", metadata={"help": "the model folder (save_model) or dataset folder to publish"})
    repo_id: str | None = field(default=None, metadata={"help": "Hub repo ORG/NAME; with --to_dir it names the repo"})
    to_dir: str | None = field(default=None, metadata={"help": "write the tree to upload into this export folder"})
    revision: str = field(default="main", metadata={"help": "branch to publish to"})
    tag: str | None = field(default=None, metadata={"help": "tag that marks this revision as a release"})
    private: bool = field(default=False, metadata={"help": "create the repo as private"})
    eval_results: str | None = field(
        default=None,
        metadata={"help": "JSON file: a list of {benchmark, metric, value, dataset_id} for the model card"},
    )

    def __post_init__(self) -> None:
        check_output_dir(self.to_dir, "to_dir")


@dataclass
class DownloadArguments:
    repo_id: str = field(default="", metadata={"help": "Hub repo ORG/NAME, or a local export folder"})
    to: str = field(default="", metadata={"help": "folder to put the files in"})
    revision: str = field(default="main", metadata={"help": "branch or tag, e.g. step-0001000"})
    include: list[str] = field(default_factory=list, metadata={"help": "only files matching these glob patterns"})
    repo_type: str = field(default="model", metadata={"help": "model or dataset"})

    def __post_init__(self) -> None:
        check_output_dir(self.to, "to")


@dataclass
class CheckpointsArguments:
    repo_id: str = field(default="", metadata={"help": "Hub repo ORG/NAME, or a local export folder"})
    repo_type: str = field(default="model", metadata={"help": "model or dataset"})


def _positional(argv: list[str], name: str) -> list[str]:
    """``VALUE --x y`` -> ``--name VALUE --x y``: the HF parsers only take named fields."""
    if argv and not argv[0].startswith("-"):
        return [f"--{name}", argv[0], *argv[1:]]
    return argv


def _require(value: str, name: str, usage: str) -> None:
    if not value:
        raise SppConfigError(f"missing {name}", field=name, fix=f"usage: {usage}")


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


def _eval_results(path: str | None) -> list[dict] | None:
    if path is None:
        return None
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SppConfigError(f"cannot read eval results ({err})", source=path, field="eval_results") from err
    if not isinstance(rows, list) or not all({"benchmark", "metric", "value"} <= set(r) for r in rows):
        raise SppConfigError(
            "eval results must be a list of {benchmark, metric, value, dataset_id}", source=path, field="eval_results"
        )
    return rows


def publish_main(argv: list[str]) -> int:
    """``spp publish model|dataset PATH (--repo_id ORG/NAME | --to_dir DIR) [--revision] [--tag] [--private]``."""
    usage = "spp publish model|dataset PATH --repo_id ORG/NAME [--revision R] [--tag T] [--private] [--to_dir DIR]"
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {usage}\n\n`spp publish model --help` and `spp publish dataset --help` list every option.")
        return 0
    if not argv or argv[0] not in PUBLISH_KINDS:
        raise SppConfigError("the first argument must be 'model' or 'dataset'", fix=f"usage: {usage}")
    kind, rest = argv[0], _positional(argv[1:], "path")
    (args,) = parse_config([PublishArguments], rest, prog=f"spp publish {kind}")
    _require(args.path, "path", usage)
    from spp.hub.publish import publish_dataset, publish_model

    common = dict(repo_id=args.repo_id, to_dir=args.to_dir, revision=args.revision, tag=args.tag, private=args.private)
    if kind == "model":
        results = _eval_results(args.eval_results)
        return _run(lambda: _report(publish_model(args.path, eval_results=results, **common)), "publish")
    return _run(lambda: _report(publish_dataset(args.path, **common)), "publish")


def _report(result) -> None:
    state = "published" if result.changed else "unchanged"
    tag = f" (tag {result.tag})" if result.tag else ""
    print(f"{state}: {result.target}@{result.revision}{tag}, {len(result.files)} files")


def download_main(argv: list[str]) -> int:
    """``spp download ORG/NAME|EXPORT_DIR --to DIR [--revision step-0001000] [--include PATTERN ...]``."""
    usage = "spp download ORG/NAME --to DIR [--revision R] [--include PATTERN ...]"
    (args,) = parse_config([DownloadArguments], _positional(argv, "repo_id"), prog="spp download")
    _require(args.repo_id, "repo_id", usage)
    _require(args.to, "to", usage)
    from spp.hub.download import download

    def action() -> None:
        files = download(args.repo_id, args.to, args.revision, args.include, args.repo_type)
        print(f"{len(files)} files of {args.repo_id}@{args.revision} in {args.to}")

    return _run(action, "download")


def checkpoints_main(argv: list[str]) -> int:
    """``spp checkpoints ORG/NAME|EXPORT_DIR``: one ``step-NNNNNNN`` branch per line, in step order."""
    (args,) = parse_config([CheckpointsArguments], _positional(argv, "repo_id"), prog="spp checkpoints")
    _require(args.repo_id, "repo_id", "spp checkpoints ORG/NAME")
    from spp.hub.download import list_checkpoints

    return _run(lambda: print("\n".join(list_checkpoints(args.repo_id, args.repo_type))), "checkpoints")
