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

Layout: the configs are ``spp.data.import_config``, the summaries ``spp.data.import_summary`` (both re-exported here),
the row checks ``spp.data.import_rows``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from spp.contract import record_contract
from spp.data.identity import range_fingerprint, sha256_json
from spp.data.import_config import (  # noqa: F401 - re-exported: the stage's configs (spp.stages)
    CONFIG_TYPES,
    IMPORT_RUNTIME_FIELDS,
    ImportConfigs,
    ImportJobConfig,
)
from spp.data.import_rows import ImportChecker, ImportStats
from spp.data.import_summary import (  # noqa: F401 - re-exported: what the stage prints (spp.stages)
    ImportResult,
    format_import_summary,
    import_result_summary,
    import_summary,
)
from spp.data.jobdir import ClaimedJob
from spp.data.mapping import ResolvedMapping
from spp.data.merge import _duplicate_count, _render_card, _save_dataset, write_final
from spp.data.resume import ResumeCheck
from spp.data.shard_run import _batches as corpus_chunks
from spp.data.shards import JobState, carried_columns, output_schema, owned_by, schema_for
from spp.data.sidecar import SidecarIndex, as_ids, load_sidecar
from spp.data.sources import load_source, resolve_id_column
from spp.errors import SppConfigError

logger = logging.getLogger("spp.data")


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
        from spp.metadata import SppMetadata
        from spp.persona import load_constitution, load_persona
        from spp.persona.constitution import constitution_record

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
