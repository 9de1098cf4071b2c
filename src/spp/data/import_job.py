"""The ``spp import-reflections`` job: join a reflection sidecar to its text corpus by id and write spp's corpus.

It runs on ``spp augment``'s job machinery: ``spp.data.jobdir.JobClaim`` (one writer per job folder or shard, a foreign
folder refused, ``--overwrite`` under the lock), ``spp.data.shards.JobState`` (fingerprinted job folder, chunk ``c`` of
the corpus owned by shard ``c % num_shards``, each chunk written whole or not at all), ``spp.data.resume`` (a changed
corpus or sidecar under committed chunks is refused, or redone with ``on_corpus_change: redo``) and the datatrove
backend (``--executor local|slurm|ray``).

Promises:
- One output row per corpus row, in corpus order, whatever the shard count: the text unchanged, a status in every
  imported placement (``ok``/``rejected``/``none``). A killed job loses at most the chunk it was writing; a rerun with
  the same recipe continues and the merged dataset equals an uninterrupted run's.
- Every sidecar row and every corpus row is accounted for (``summary.json``, ``spp.json`` ``details.import``, the
  card): sidecar rows = joined + no text in the corpus + duplicate ids + rows without an id; corpus rows = the sum of
  the statuses. Each broken kind is counted (``spp.data.import_rows``).
- A mapping that names a column the sidecar lacks stops the job before anything is written (exit 2 naming the field
  and column); a join that matches fewer than ``min_join_share`` of the sidecar's ids stops the merge (exit 2 naming
  the share; the chunks are kept, a rerun after a fix merges at once).
- The result is a normal spp corpus (``datasets.load_from_disk``, ``spp.json`` with the contract): every arm, the
  audit, the data-view hash and ``spp pretrain`` read it unchanged.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from spp.contract import OVER_BUDGET_POLICIES, ReflectionContract, record_contract
from spp.data.executor import ExecutorConfig
from spp.data.identity import range_fingerprint, sha256_json
from spp.data.import_rows import (
    MISMATCH_POLICIES,
    UNKNOWN_CITATION_POLICIES,
    CheckSettings,
    ImportChecker,
    ImportStats,
)
from spp.data.jobdir import CHUNKED_JOB_RUNTIME_FIELDS, ClaimedJob, JobResult, job_summary
from spp.data.mapping import ResolvedMapping
from spp.data.merge import _duplicate_count, _render_card, _save_dataset, write_final
from spp.data.resume import CORPUS_CHANGE_POLICIES, ResumeCheck
from spp.data.shard_run import _batches as corpus_chunks
from spp.data.shards import JobState, carried_columns, output_schema, owned_by, schema_for
from spp.data.sidecar import SidecarConfig, SidecarIndex, as_ids, load_sidecar
from spp.data.sources import SourceConfig, load_source, resolve_id_column
from spp.errors import SppConfigError
from spp.errors import check_output_dir as check_writable_folder
from spp.recipes import recipe_hash, resolved_recipe

logger = logging.getLogger("spp.data")

IMPORT_RUNTIME_FIELDS = CHUNKED_JOB_RUNTIME_FIELDS | {
    "streaming",
    "sidecar_streaming",
    "on_corpus_change",
    "min_join_share",
    "executor",
    "tasks",
    "workers",
    "logging_dir",
    "slurm_partition",
    "slurm_time",
    "cpus_per_task",
    "mem_per_cpu_gb",
    "slurm_sbatch_args",
    "gpus_per_task",
    "slurm_env_command",
}
SIDECAR_KINDS = ("no_text", "duplicate_id", "missing_id")


@dataclass
class ImportJobConfig:
    """Where the imported corpus goes, the contract checks, and how the job is split."""

    output_dir: str = field(default="outputs/imported", metadata={"help": "Folder of the imported corpus."})
    training_tokenizer: str = field(
        default="",
        metadata={
            "help": "Tokenizer of the model that will train on this corpus (Hub id or folder): every imported "
            "reflection's pause and block are measured in its tokens (required)."
        },
    )
    over_budget: str = field(
        default="trim",
        metadata={
            "values": "spp.contract:OVER_BUDGET_POLICIES",
            "help": "A reflection over the budget: trim (at the last sentence end that fits) or reject.",
        },
    )
    on_token_mismatch: str = field(
        default="reject",
        metadata={
            "values": "spp.data.import_rows:MISMATCH_POLICIES",
            "help": "A pause whose recorded token index differs from the training tokenizer's count of the text "
            "before it: reject (the text may not be the one the reflection was written on) or keep (counted; the "
            "training tokenizer's index is written). With another tokenizer than the sidecar's, set token_index=none."
        },
    )
    on_unknown_citation: str = field(
        default="drop",
        metadata={
            "values": "spp.data.import_rows:UNKNOWN_CITATION_POLICIES",
            "help": "Cited ids the constitution lacks: drop them from citations (counted) or reject the row.",
        },
    )
    min_join_share: float = field(
        default=0.99,
        metadata={
            "help": "Exit 2 at the merge when fewer than this share of the sidecar's ids found their document in "
            "the corpus (a wrong id column, another corpus); lower it to import against part of the corpus."
        },
    )
    corpus_harm_column: str = field(
        default="harm_score",
        metadata={
            "help": "The corpus's harm-score column, used when present; else the sidecar's score (joined rows)."
        },
    )
    harm_threshold: float = field(default=3.0, metadata={"help": "Rows at or above it are counted as harmful."})
    constitution: str = field(
        default="default", metadata={"help": "Value Constitution whose section ids citations are checked against."}
    )
    persona: str = field(default="default", metadata={"help": "Persona recorded in spp.json (binding reads it)."})
    chunk_size: int = field(default=1000, metadata={"help": "Corpus rows per committed chunk."})
    num_shards: int = field(default=1, metadata={"help": "Number of shards (e.g. the size of a Slurm array)."})
    shard_index: int = field(default=0, metadata={"help": "Which shard this process runs, 0-based."})
    merge: bool = field(default=False, metadata={"help": "Only merge finished shards (automatic with one shard)."})
    overwrite: bool = field(default=False, metadata={"help": "Discard an existing job in output_dir and start over."})
    on_corpus_change: str = field(
        default="error",
        metadata={
            "values": "spp.data.resume:CORPUS_CHANGE_POLICIES",
            "help": "A rerun whose corpus or sidecar rows changed under committed chunks: 'error' or 'redo'.",
        },
    )
    hub_repo_id: str | None = field(default=None, metadata={"help": "After merging, publish the corpus here."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise SppConfigError("shard_index must be in 0..num_shards-1", field="shard_index")
        if self.chunk_size < 1:
            raise SppConfigError("must be at least 1", field="chunk_size")
        choices = (
            ("over_budget", OVER_BUDGET_POLICIES),
            ("on_token_mismatch", MISMATCH_POLICIES),
            ("on_unknown_citation", UNKNOWN_CITATION_POLICIES),
            ("on_corpus_change", CORPUS_CHANGE_POLICIES),
        )
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise SppConfigError(f"{getattr(self, name)!r} is not one of {allowed}", field=name)
        if not 0 <= self.min_join_share <= 1:
            raise SppConfigError("must be between 0 and 1", field="min_join_share")
        if not self.training_tokenizer:
            raise SppConfigError(
                "no training tokenizer: imported reflections are checked against the budget in its tokens",
                field="training_tokenizer",
                fix="pass the tokenizer of the model that will train on the corpus (e.g. HuggingFaceTB/SmolLM2-1.7B)",
            )
        if self.overwrite and self.num_shards > 1:
            raise SppConfigError(
                "--overwrite with num_shards > 1 would let every shard delete the others' work", field="overwrite"
            )
        check_writable_folder(self.output_dir)

    def settings(self) -> CheckSettings:
        return CheckSettings(self.over_budget, self.on_token_mismatch, self.on_unknown_citation, self.harm_threshold)


@dataclass
class ImportConfigs:
    """Every config of ``spp import-reflections``."""

    job: ImportJobConfig = field(default_factory=ImportJobConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    sidecar: SidecarConfig = field(default_factory=SidecarConfig)
    contract: ReflectionContract = field(default_factory=ReflectionContract)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)  # where the job runs, not what it writes

    def all(self) -> tuple:
        return (self.job, self.source, self.sidecar, self.contract)

    def recipe(self) -> dict[str, Any]:
        """Everything that decides the rows (runtime fields excluded): the job's fingerprint input."""
        return resolved_recipe(*self.all(), exclude=IMPORT_RUNTIME_FIELDS)

    def recipe_hash(self) -> str:
        return recipe_hash(*self.all(), exclude=IMPORT_RUNTIME_FIELDS)


# The configs of ``spp import-reflections``, in the order of ``ImportConfigs``' fields.
CONFIG_TYPES = [ImportJobConfig, SourceConfig, SidecarConfig, ReflectionContract, ExecutorConfig]


@dataclass
class Joined:
    """The sidecar, its id index, the resolved mapping and the checker: what every chunk needs."""

    table: pa.Table
    index: SidecarIndex
    mapping: ResolvedMapping
    checker: ImportChecker

    def values(self, rows: list[int | None]) -> list[dict[str, Any] | None]:
        """Per joined row, the mapped sidecar values (field -> value); ``None`` where nothing was joined."""
        hits = [r for r in rows if r is not None]
        taken = self.table.take(pa.array(hits, pa.int64())).to_pydict() if hits else {}
        by_field = {name: taken.get(column, []) for name, column in self.mapping.used.items()}
        out, k = [], 0
        for row in rows:
            if row is None:
                out.append(None)
                continue
            out.append({name: values[k] for name, values in by_field.items()})
            k += 1
        return out


class ImportJob(ClaimedJob):
    """One shard of an import, plus the merge; the interface ``spp.data.datatrove_backend`` drives (``run_shard``,
    ``failure``, ``merge``). Holds the job folder's claim (``JobClaim``, ``spp.ownership``) until ``close``."""

    stage = "import-reflections"

    @classmethod
    def identity(cls, configs: ImportConfigs) -> tuple[str, list[str]]:
        return configs.recipe_hash(), [configs.source.dataset, configs.sidecar.sidecar]

    def __init__(self, configs: ImportConfigs):
        self.configs = configs
        self.job = configs.job
        self.output_dir = Path(self.job.output_dir)
        self.claim = self.take_claim(configs)
        self.state = JobState(self.output_dir, self.job.chunk_size, stats_type=ImportStats)
        self._joined: Joined | None = None

    def joined(self) -> Joined:
        """Load the sidecar (checking the mapping against it), its index, the tokenizer and the constitution."""
        if self._joined is None:
            from spp.persona import load_constitution
            from spp.pretrain.tokenizer import load_tokenizer

            c = self.configs
            table, mapping = load_sidecar(c.sidecar, self.state.root)
            for name in mapping.skipped:
                logger.warning("sidecar %s has no column for optional field %s: skipped", c.sidecar.sidecar, name)
            index = SidecarIndex(table.column(mapping.used["id"]))
            tokenizer = load_tokenizer(self.job.training_tokenizer, c.contract.block_format)
            sections = set(load_constitution(self.job.constitution).sections)
            checker = ImportChecker(tokenizer, c.contract, mapping, sections, self.job.settings())
            self._joined = Joined(table, index, mapping, checker)
        return self._joined

    def _schema(self, data, joined: Joined, id_column: str) -> dict[str, str]:
        """Set the chunks' schema (spp's columns of each imported placement + the corpus's other columns); returns
        the carried columns (source name -> output name)."""
        own = schema_for("pause")
        if "end" in joined.mapping.placements:
            own = pa.schema([*own, *(f for f in schema_for("end") if f.name.startswith("end_"))])
        if "pause" not in joined.mapping.placements:  # an end-only sidecar: the pause columns stay, all 'none'
            logger.warning("the sidecar has no pause-placement reflection: every row is 'none' in reflection_*")
        consumed = {self.configs.source.text_column, id_column, self.job.corpus_harm_column}
        features = getattr(data, "features", None)
        carried = carried_columns(features, consumed, own)
        self.state.schema = output_schema(features, carried, own)
        return carried

    def _fingerprint(self) -> tuple[str, dict[str, Any]]:
        joined = self.joined()
        recipe = {**self.configs.recipe(), "sidecar_rows": len(joined.index), "mapping": joined.mapping.used}
        return sha256_json(recipe), recipe

    def _join(self, batch, id_column: str) -> tuple[list[str | None], list[int | None], list, str]:
        """The chunk's ids, the sidecar rows joined to them, their mapped values, and the chunk's input fingerprint
        (corpus text, id and harm columns, and the joined sidecar values: a change in either is noticed)."""
        joined, c = self.joined(), self.configs
        ids = as_ids(batch[id_column])
        rows = joined.index.lookup(ids)
        values = joined.values(rows)
        sidecar = [json.dumps(v, sort_keys=True, default=str) if v is not None else None for v in values]
        identity = {k: batch[k] for k in (c.source.text_column, id_column, self.job.corpus_harm_column) if k in batch}
        fingerprint = range_fingerprint({**identity, "sidecar": sidecar}, [*identity, "sidecar"])
        return ids, rows, values, fingerprint

    def _columns(self, batch, ids, values, carried: dict[str, str]) -> tuple[dict[str, list], ImportStats]:
        texts = batch[self.configs.source.text_column]
        columns, stats = self.joined().checker.rows(texts, values, batch.get(self.job.corpus_harm_column))
        columns |= {"id": ids, "text": texts}
        return columns | {out: batch[name] for name, out in carried.items()}, stats

    def run_shard(self) -> dict[str, Any]:
        """Write this shard's missing chunks; returns the shard's summary."""
        from tqdm.auto import tqdm

        c, job = self.configs, self.job
        data = load_source(c.source)
        id_column = resolve_id_column(data, c.source)
        if id_column is None:
            raise SppConfigError(
                "the corpus has no id column: the sidecar joins on document ids",
                source=c.source.dataset,
                field="id_column",
                fix="pass --id_column with the corpus's document id column",
            )
        joined = self.joined()
        carried = self._schema(data, joined, id_column)
        corpus_rows = len(data) if hasattr(data, "__len__") else None
        fingerprint, recipe = self._fingerprint()
        self.state.claim(fingerprint, recipe, corpus_rows)
        mine = lambda index: owned_by(index, job.shard_index, job.num_shards)  # noqa: E731
        self.state.remove_partial_writes(mine)
        self.state.remove_merge_leftovers()
        resume = ResumeCheck(self.state, self.output_dir, job.on_corpus_change, job.num_shards, c.source.text_column)
        start, total, written = time.perf_counter(), 0, 0
        bar = tqdm(total=corpus_rows, unit="doc", desc="import", disable=not job.progress)
        with bar:
            for index, rows, batch in corpus_chunks(data, job.chunk_size, mine):
                total += rows
                bar.update(rows)
                if batch is None:
                    continue
                ids, hits, values, chunk_fingerprint = self._join(batch, id_column)
                ids_of = lambda b, _t: as_ids(b[id_column])  # noqa: E731
                if self.state.has_chunk(index) and resume.committed_matches(index, batch, chunk_fingerprint, ids_of):
                    continue
                columns, stats = self._columns(batch, ids, values, carried)
                joined_rows = [r for r in hits if r is not None]
                self.state.write_chunk(index, columns, stats, chunk_fingerprint, sidecar_rows=joined_rows)
                written += rows
        known = self.state.corpus_rows()
        if known is not None and total != known:
            resume.length_changed(known, total)
        owned = [i for i in range(self.state.num_chunks(total)) if mine(i)]
        stats = self.state.stats_of(owned)
        self.state.finish_shard(job.shard_index, job.num_shards, total, stats)
        result = import_summary(stats, total)
        result["this_run"] = {"rows_written": written, "seconds": round(time.perf_counter() - start, 3)}
        return result

    def sidecar_accounting(self, chunks: int) -> dict[str, Any]:
        """Where every sidecar row went, from the committed chunks' joined rows and the index."""
        index = self.joined().index
        joined = np.zeros(len(index), dtype=bool)
        for chunk in range(chunks):
            joined[self.state.chunk_meta(chunk).get("sidecar_rows", [])] = True
        unjoinable = np.zeros(len(index), dtype=bool)
        unjoinable[index.duplicates] = True
        unjoinable[index.missing] = True
        no_text = int((~joined & ~unjoinable).sum())
        distinct = len(index) - len(index.duplicates) - len(index.missing)
        return {
            "rows": len(index),
            "joined": int(joined.sum()),
            "no_text": no_text,
            "duplicate_id": len(index.duplicates),
            "missing_id": len(index.missing),
            "join_share": round(float(joined.sum()) / distinct, 6) if distinct else 0.0,
        }

    def failure(self, result: dict[str, Any] | None = None) -> str | None:
        """Why the merge must not run (a join below ``min_join_share``), ``None`` when it may. Checked on the
        committed chunks once every shard has finished (before: ``None``)."""
        if result is not None:
            return None
        try:
            chunks = len(self.state.complete_chunks())
        except SppConfigError:
            return None
        return self._join_failure(self.sidecar_accounting(chunks))

    def _join_failure(self, sidecar: dict[str, Any]) -> str | None:
        share, floor = sidecar["join_share"], self.job.min_join_share
        if share >= floor:
            return None
        distinct = sidecar["rows"] - sidecar["duplicate_id"] - sidecar["missing_id"]
        return (
            f"only {sidecar['joined']:,} of the sidecar's {distinct:,} "
            f"ids found their document in the corpus (join share {share:.2%}, min_join_share {floor:.2%}); "
            f"{sidecar['no_text']:,} ids have no text: check the corpus's id_column and the mapping's id "
            f"({self.joined().mapping.used['id']!r}), or lower min_join_share to import against part of the corpus"
        )

    def merge(self) -> dict[str, Any]:
        """Verify and assemble every chunk, in corpus order, into the final corpus with ``spp.json``, the card and
        ``summary.json``; exit 2 (``SppConfigError``) when the join is below ``min_join_share``."""
        self.state.remove_merge_leftovers()
        files = self.state.verified_chunks()
        sidecar = self.sidecar_accounting(len(files))
        if failure := self._join_failure(sidecar):
            raise SppConfigError(failure, source=self.output_dir, field="min_join_share")
        stats = self.state.stats_of(range(len(files)))
        scored = any(key != "missing" for key in stats.harm_histogram)
        dataset = _save_dataset(files, self.output_dir, self.state.root, keep_harm=scored)
        result = import_summary(stats, len(dataset), sidecar)
        result["corpus_duplicate_ids"] = _duplicate_count(dataset)
        meta = self.metadata(result)
        card = lambda: _render_card(meta, dataset.features, self.output_dir)  # noqa: E731
        write_final(self.output_dir, result, meta, card, self.job.hub_repo_id)
        self.claim.finish()
        return result

    def metadata(self, result: dict[str, Any]):
        """``spp.json`` of the imported corpus: persona, constitution, contract, provenance, every count."""
        from spp.bind.provenance import constitution_record
        from spp.metadata import SppMetadata
        from spp.persona import load_constitution, load_persona

        c, joined = self.configs, self.joined()
        details = {
            "source": c.source.describe(),
            "sidecar": c.sidecar.describe(),
            "mapping": joined.mapping.describe(),
            "placements": list(joined.mapping.placements),
            "import": result,
            "counts": result["counts"],
            "harm_histogram": result["harm_histogram"],
            "harm": {
                "threshold": self.job.harm_threshold,
                "corpus_column": self.job.corpus_harm_column,  # used where the corpus has it
                "sidecar_column": joined.mapping.used.get("harm_score"),  # else this one, on joined rows
            },
            "rows": result["rows"],
            "trimmed": result["trimmed"],
            "reflection_tokens": result["reflection_tokens"],
        }
        meta = SppMetadata(
            kind="dataset",
            persona=load_persona(self.job.persona).to_dict(),
            constitution=constitution_record(load_constitution(self.job.constitution)),
            recipe_hash=c.recipe_hash(),
            lineage={
                "source": {"repo_id": c.source.dataset, "revision": c.source.revision},
                "sidecar": {"repo_id": c.sidecar.sidecar, "revision": c.sidecar.sidecar_revision},
            },
            details=details,
        )
        return record_contract(
            meta,
            c.contract,
            tokenizer=self.job.training_tokenizer,
            over_budget=self.job.over_budget,
            enforced=True,
            harm_threshold=self.job.harm_threshold,
        )


def import_summary(stats: ImportStats, total_rows: int, sidecar: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``summary.json`` holds: the corpus rows by status, each broken kind, and (merged) the sidecar's rows."""
    broken = dict(sorted(stats.broken.items()))
    if sidecar is not None:
        broken |= {kind: sidecar[kind] for kind in SIDECAR_KINDS if sidecar[kind]}
    out: dict[str, Any] = {
        "rows": total_rows,
        "rows_in_shard": stats.rows,
        "matched_rows": stats.matched,
        "counts": dict(sorted(stats.status.items())),
        "broken": dict(sorted(broken.items())),
        "rejected": dict(sorted(stats.rejected.items())),
        "unknown_citation_ids": dict(sorted(stats.unknown_citation_ids.items())),
        "canaries": dict(sorted(stats.canaries.items())),
        "trimmed": dict(sorted(stats.trimmed.items())),
        "reflection_tokens": dict(sorted(stats.block_tokens.items(), key=lambda kv: int(kv[0]))),
        "harm_histogram": dict(sorted(stats.harm_histogram.items())),
        "harmful_rows": stats.harmful_rows,
        "empty_documents": stats.empty_documents,
    }
    if stats.end_status:
        out["end_counts"] = dict(sorted(stats.end_status.items()))
    if sidecar is not None:
        out["sidecar"] = sidecar
    return out


def format_import_summary(result: dict[str, Any]) -> str:
    """A few readable lines of an import summary."""
    lines = [
        f"corpus rows: {result['rows']}  joined to a reflection: {result['matched_rows']}",
        "by status: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items()),
    ]
    if result.get("end_counts"):
        lines.append("end placement: " + ", ".join(f"{k} {v}" for k, v in result["end_counts"].items()))
    if sidecar := result.get("sidecar"):
        lines.append(
            f"sidecar rows: {sidecar['rows']}  joined: {sidecar['joined']}  no text in the corpus: "
            f"{sidecar['no_text']}  duplicate ids: {sidecar['duplicate_id']}  no id: {sidecar['missing_id']}  "
            f"(join share {sidecar['join_share']:.2%})"
        )
    if result["broken"]:
        lines.append("broken, by kind: " + ", ".join(f"{k} {v}" for k, v in result["broken"].items()))
    if result["rejected"]:
        lines.append("rejected, by reason: " + ", ".join(f"{k} {v}" for k, v in result["rejected"].items()))
    return "\n".join(lines)


@dataclass
class ImportResult(JobResult):
    """What an import run did (``spp.data.jobdir.JobResult``); ``failure``: why a datatrove run failed."""


def import_result_summary(result: ImportResult) -> str:
    """What ``spp import-reflections`` prints: this shard's counts, the merged corpus's and where it is."""
    out = result.output_dir
    where = f"dataset: {out} (spp pretrain --dataset_path {out}); summary: {out / 'summary.json'}"
    return job_summary(result, "import-reflections", format_import_summary, where)


def run_import(configs: ImportConfigs) -> ImportResult:
    """Import this shard (unless ``merge``) and merge when it is the only one or ``merge`` is set; with a datatrove
    ``executor``, run (or submit) every shard and the merge there. A join below ``min_join_share`` raises
    ``SppConfigError`` (exit 2) whichever executor ran it."""
    if configs.executor.executor != "spp":
        from spp.data.datatrove_backend import run_with_datatrove

        code = run_with_datatrove(configs, job_factory="spp.data.import_job:ImportJob", job_name="spp-import")
        if code:
            with ImportJob(replace_job(configs, merge=True)) as job:
                if failure := job.failure():
                    raise SppConfigError(failure, source=job.output_dir, field="min_join_share")
        failure = "a datatrove task failed (see the log)" if code else None
        return ImportResult(Path(configs.job.output_dir), failure=failure, executor=configs.executor.executor)
    with ImportJob(configs) as job:
        result = ImportResult(job.output_dir, shard_index=configs.job.shard_index, num_shards=configs.job.num_shards)
        if not configs.job.merge:
            result.shard = job.run_shard()
            if configs.job.num_shards > 1:
                return result
        result.merged = job.merge()
    return result


def replace_job(configs: ImportConfigs, **changes: Any) -> ImportConfigs:
    import dataclasses

    return dataclasses.replace(configs, job=dataclasses.replace(configs.job, **changes))
