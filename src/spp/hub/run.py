"""The runs of ``spp publish``, ``spp download`` and ``spp checkpoints``, each taking its parsed arguments.

- ``run_publish``: a model (with its card, ``spp.json`` and optional eval results) or a dataset to the Hub repo
  ``repo_id`` or an export folder ``to_dir``; returns the ``PublishResult`` (``changed`` is false for a no-op).
- ``run_download``: a released model, dataset or checkpoint branch (Hub repo or export folder) into ``to``.
- ``run_checkpoints``: the ``step-*`` branches of a model repo or export, in step order.

Bad input (a missing path or repo, an unknown kind, an unreadable eval-results file) raises ``SppConfigError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from spp.errors import SppConfigError, check_output_dir

PUBLISH_KINDS = ("model", "dataset")
REPO_TYPES = ("model", "dataset")  # the Hub repo types spp reads and writes
DOWNLOAD_USAGE = "spp download ORG/NAME --to DIR [--revision R] [--include PATTERN ...]"
PUBLISH_USAGE = "spp publish model|dataset PATH --repo_id ORG/NAME [--revision R] [--tag T] [--private] [--to_dir DIR]"


@dataclass
class PublishArguments:
    kind: str = field(default="model", metadata={"values": "spp.hub.run:PUBLISH_KINDS", "help": "what path holds"})
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
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace the revision when it holds another run's artifact (another recipe or data view)"},
    )

    def __post_init__(self) -> None:
        if self.kind not in PUBLISH_KINDS:
            kinds = " or ".join(map(repr, PUBLISH_KINDS))
            raise SppConfigError(
                f"unknown kind {self.kind!r}: the first argument must be {kinds}", field="kind", fix=f"usage: {PUBLISH_USAGE}"
            )
        check_output_dir(self.to_dir, "to_dir")


@dataclass
class DownloadArguments:
    repo_id: str = field(default="", metadata={"help": "Hub repo ORG/NAME, or a local export folder"})
    to: str = field(default="", metadata={"help": "folder to put the files in"})
    revision: str = field(default="main", metadata={"help": "branch or tag, e.g. step-0001000"})
    include: list[str] = field(default_factory=list, metadata={"help": "only files matching these glob patterns"})
    repo_type: str = field(default="model", metadata={"values": "spp.hub.run:REPO_TYPES", "help": "Hub repo type"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace what spp downloaded into --to before (another repo or revision)"}
    )

    def __post_init__(self) -> None:
        check_output_dir(self.to, "to")


@dataclass
class CheckpointsArguments:
    repo_id: str = field(default="", metadata={"help": "Hub repo ORG/NAME, or a local export folder"})
    repo_type: str = field(default="model", metadata={"values": "spp.hub.run:REPO_TYPES", "help": "Hub repo type"})
    branch_pattern: str = field(
        default="",
        metadata={
            "help": "List the refs this regex matches (one group: the step), in step order, e.g. a released "
            "trajectory's; '.*' lists every ref (empty: spp's step-NNNNNNN branches)"
        },
    )


def _require(value: str, name: str, usage: str) -> None:
    if not value:
        raise SppConfigError(f"missing {name}", field=name, fix=f"usage: {usage}")


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


def run_publish(args: PublishArguments):
    """Publish ``args.path`` as a ``args.kind`` (module docstring); returns the ``PublishResult``."""
    _require(args.path, "path", PUBLISH_USAGE)
    from spp.hub.delivery import check_target
    from spp.hub.owners import check_export_owner
    from spp.hub.publish import publish_dataset, publish_model
    from spp.metadata import read_metadata
    from spp.ownership import check_not_in_place, run_identity

    check_target(args.repo_id, args.to_dir, args.revision, args.tag)
    if args.to_dir is not None:
        check_not_in_place([Path(args.to_dir)], [args.path], "to_dir")
    identity = run_identity(read_metadata(args.path)) if Path(args.path).is_dir() else {}
    check_export_owner(  # the revision written may not hold another run's artifact (unless --overwrite)
        identity,
        to_dir=args.to_dir,
        repo_id=None if args.to_dir is not None else args.repo_id,
        revision=args.revision,
        overwrite=args.overwrite,
        field="to_dir" if args.to_dir is not None else "repo_id",
    )

    common = dict(repo_id=args.repo_id, to_dir=args.to_dir, revision=args.revision, tag=args.tag, private=args.private)
    if args.kind == "model":
        return publish_model(args.path, eval_results=_eval_results(args.eval_results), **common)
    return publish_dataset(args.path, **common)


def publish_summary(result) -> str:
    """One line: published or unchanged, where, at which revision (and tag), how many files."""
    state = "published" if result.changed else "unchanged"
    tag = f" (tag {result.tag})" if result.tag else ""
    return f"{state}: {result.target}@{result.revision}{tag}, {len(result.files)} files"


@dataclass
class Downloaded:
    """What ``run_download`` fetched: the files, from which repo and revision, into which folder."""

    files: list[Path]
    repo_id: str
    revision: str
    to: str


def download_summary(result: Downloaded) -> str:
    return f"{len(result.files)} files of {result.repo_id}@{result.revision} in {result.to}"


def checkpoints_summary(branches: list[str]) -> str:
    """One checkpoint branch per line, in step order."""
    return "\n".join(branches)


def run_download(args: DownloadArguments) -> Downloaded:
    """Download ``args.repo_id`` at ``args.revision`` (only ``include`` patterns, when given) into ``args.to``."""
    _require(args.repo_id, "repo_id", DOWNLOAD_USAGE)
    _require(args.to, "to", DOWNLOAD_USAGE)
    from spp.hub.download import download
    from spp.hub.refs import check_revision
    from spp.ownership import claim_output
    from spp.recipes import recipe_hash

    check_revision(args.revision)
    source = str(Path(args.repo_id).resolve()) if Path(args.repo_id).exists() else args.repo_id
    digest = recipe_hash({"source": source, "revision": args.revision, "include": sorted(args.include)})
    with claim_output(
        "download", args.to, recipe_hash=digest, inputs=[args.repo_id], overwrite=args.overwrite, field="to"
    ):
        files = download(args.repo_id, args.to, args.revision, args.include, args.repo_type)
    return Downloaded(files, args.repo_id, args.revision, args.to)


def run_checkpoints(args: CheckpointsArguments) -> list[str]:
    """The ``step-NNNNNNN`` branches of ``args.repo_id`` (a Hub repo or an export folder), in step order."""
    _require(args.repo_id, "repo_id", "spp checkpoints ORG/NAME")
    if args.branch_pattern:
        return matching_refs(args.repo_id, args.branch_pattern, args.repo_type)
    from spp.hub.download import list_checkpoints

    return list_checkpoints(args.repo_id, args.repo_type)


def matching_refs(repo_id: str, pattern: str, repo_type: str = "model", api=None) -> list[str]:
    """The refs of ``repo_id`` that ``pattern`` matches, in step order (``.*``: every ref, by name)."""
    import re

    from spp.hub.refs import match_step, step_pattern
    from spp.hub.resolve import list_refs

    names = [ref.name for ref in list_refs(repo_id, repo_type, api)]
    try:
        if re.compile(pattern).groups == 0:
            return [n for n in names if re.fullmatch(pattern, n)]
    except re.error:
        pass  # step_pattern names the problem
    compiled = step_pattern(pattern)
    steps = {n: found[0] for n in names if (found := match_step(compiled, n)) is not None}
    return sorted(steps, key=lambda n: (steps[n], n))
