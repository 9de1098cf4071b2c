"""The ``spp bind-data`` job: persona answers for a prompt set, in resumable atomic chunks, then one dataset.

It runs on the job machinery of ``spp augment``: ``spp.data.jobdir.JobClaim`` (one writer per job folder or shard,
a foreign folder refused, ``--overwrite`` under the lock) and ``spp.data.shards.JobState`` (fingerprinted job folder,
chunk ``c`` owned by shard ``c % num_shards``, each chunk written whole or not at all, stats in the chunk's metadata).

Promises:
- One output row per drawn prompt, in the drawn order, whatever the shard count; every row is ``ok``, ``rejected``
  or ``failed`` with its reason, and the counts by status add up to the rows.
- A killed job loses at most the chunks it was writing; a rerun with the same recipe continues, and the merged
  dataset equals an uninterrupted run's. A rerun regenerates the ``failed`` rows of finished chunks (and only
  those: ``ok`` and ``rejected`` rows are kept as they are).
- The final folder opens with ``datasets.load_from_disk`` and holds ``README.md`` (card), ``spp.json`` (constitution
  hash, persona, generator, prompt hash, the prompt set's hash, counts) and ``summary.json``; ``spp sft`` and
  ``spp publish dataset`` read it as it is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from spp.bind.generate import BindRequest, BindResult, build_bind_generator
from spp.bind.prompts import BindPrompter
from spp.bind.rows import SCHEMA, chunk_stats, result_row
from spp.bind.selfplay import play
from spp.bind.sources import DrawnPrompts, PromptSource, add_selfplay, draw_prompts
from spp.bind.summary import (  # noqa: F401 - format_summary re-exported: spp bind-data prints it
    _by_category,
    bind_metadata,
    format_summary,
    summary,
)
from spp.bind.validate import BindValidationConfig
from spp.checks import AT_LEAST_ONE, SEED
from spp.data.augment import AugmentStats
from spp.data.identity import range_fingerprint, sha256_json
from spp.data.jobdir import CHUNKED_JOB_RUNTIME_FIELDS, ClaimedJob
from spp.data.merge import _save_dataset, write_final
from spp.data.shards import JobState, owned_by
from spp.errors import SppConfigError, check_output_dir
from spp.generate.base import GeneratorConfig
from spp.persona import load_constitution, load_persona
from spp.recipes import recipe_hash, resolved_recipe

logger = logging.getLogger("spp.bind")
DEMO_PROMPTS = str(Path(__file__).parent / "data" / "demo_prompts.jsonl")  # spp's own prompts, for the demo

BIND_RUNTIME_FIELDS = CHUNKED_JOB_RUNTIME_FIELDS | {"selfplay_user_base_urls"}


@dataclass
class BindJobConfig:
    """Which prompts, where the dataset goes, and how the job is split."""

    # value ranges checked at parse time (spp.checks; a numeric field not listed is >= 0)
    RANGES = {
        "num_prompts": AT_LEAST_ONE,
        "sample_seed": SEED,
        "selfplay_turns": AT_LEAST_ONE,
        "chunk_size": AT_LEAST_ONE,
        "num_shards": AT_LEAST_ONE,
    }

    output_dir: str = field(default="outputs/bind-demo", metadata={"help": "Folder of the persona-binding dataset."})
    sources: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"path": DEMO_PROMPTS, "category": c, "where": {"category": c}, "label": f"spp-demo-{c}"}
            for c in ("harmful", "benign", "jailbreak")
        ],
        metadata={
            "help": "Prompt sources: a list of {path, category (harmful|benign|jailbreak), share, name, split, "
            "revision, data_files, prompt_column, where, label} (see spp.bind.sources.PromptSource). Set it in the "
            "recipe YAML. Default: spp's own demo prompts."
        },
    )
    num_prompts: int | None = field(
        default=None,
        metadata={"help": "Prompts in the set, split over sources by share (unset: every prompt of every source)."},
    )
    sample_seed: int = field(default=0, metadata={"help": "Seed of the draw from each source and of the mixing."})
    selfplay_topics: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "Seeds of multi-turn self-play: a list of {topic, category (harmful|benign)}. A second role "
            "plays the user on each drawn topic, with pressure rising every turn (see spp.bind.selfplay)."
        },
    )
    selfplay_sources: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "Seeds of self-play drawn from prompt sources (as `sources`, category harmful|benign, with "
            "shares): selfplay_conversations prompts are drawn from them and added to selfplay_topics (the authors "
            "seeded their multi-turn set from WildChat, WildGuardMix and WildJailbreak prompts)."
        },
    )
    selfplay_conversations: int = field(
        default=0, metadata={"help": "Self-play conversations to make (distinct topics drawn with sample_seed)."}
    )
    selfplay_turns: int = field(default=3, metadata={"help": "User turns per self-play conversation."})
    selfplay_user_model: str | None = field(
        default=None,
        metadata={"help": "Model that plays the user in self-play (default: the persona generator's own model)."},
    )
    selfplay_user_base_urls: list[str] = field(
        default_factory=list,
        metadata={"help": "Servers of selfplay_user_model (default: the generator's base_urls)."},
    )
    constitution: str = field(default="default", metadata={"help": "Value Constitution: 'default' or a file."})
    persona: str = field(default="default", metadata={"help": "Persona spec: 'default' or a YAML file."})
    chunk_size: int = field(default=200, metadata={"help": "Prompts per committed chunk (a kill loses at most one)."})
    num_shards: int = field(default=1, metadata={"help": "Number of shards (e.g. the size of a Slurm array)."})
    shard_index: int = field(default=0, metadata={"help": "Which shard this process runs, 0-based."})
    merge: bool = field(default=False, metadata={"help": "Only merge finished shards (automatic with one shard)."})
    overwrite: bool = field(default=False, metadata={"help": "Discard an existing job in output_dir and start over."})
    hub_repo_id: str | None = field(default=None, metadata={"help": "After merging, publish the dataset here."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})

    def __post_init__(self) -> None:
        check_output_dir(self.output_dir)
        load_constitution(self.constitution)  # bad files fail at parse time, before the job is claimed
        load_persona(self.persona)
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise SppConfigError("shard_index must be in 0..num_shards-1", field="shard_index")
        if self.chunk_size < 1:
            raise SppConfigError("must be at least 1", field="chunk_size")
        for index, spec in enumerate(self.selfplay_source_specs):
            if spec.category not in ("harmful", "benign"):
                where = f"selfplay_sources[{index}].category"
                raise SppConfigError("a self-play seed is harmful or benign", field=where)
        if not self.sources and not self.selfplay_conversations:
            raise SppConfigError("no prompt source", field="sources", fix="list at least one source in the recipe")
        if self.selfplay_turns < 1:
            raise SppConfigError("must be at least 1", field="selfplay_turns")
        self.source_specs  # noqa: B018 - validates the sources at parse time

    @property
    def source_specs(self) -> list[PromptSource]:
        return [PromptSource.from_dict(s, i) for i, s in enumerate(self.sources)]

    @property
    def selfplay_source_specs(self) -> list[PromptSource]:
        return [PromptSource.from_dict(s, i) for i, s in enumerate(self.selfplay_sources)]


@dataclass
class BindConfigs:
    """Every config of ``spp bind-data``."""

    job: BindJobConfig = field(default_factory=BindJobConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    validation: BindValidationConfig = field(default_factory=BindValidationConfig)

    def all(self) -> tuple:
        return (self.job, self.generator, self.validation)

    def recipe(self) -> dict[str, Any]:
        """Everything that decides the rows (runtime fields excluded)."""
        return resolved_recipe(*self.all(), exclude=BIND_RUNTIME_FIELDS)

    def recipe_hash(self) -> str:
        return recipe_hash(*self.all(), exclude=BIND_RUNTIME_FIELDS)


CONFIG_TYPES = [BindJobConfig, GeneratorConfig, BindValidationConfig]  # what spp bind-data parses, in order


def _prompter(job: BindJobConfig) -> BindPrompter:
    return BindPrompter(load_constitution(job.constitution), load_persona(job.persona))


class BindJob(ClaimedJob):
    """One shard of a bind-data job, plus the merge. Holds the job folder's claim (``spp.data.jobdir.JobClaim``, as
    ``spp augment`` does) until ``close``."""

    stage = "bind-data"

    @classmethod
    def identity(cls, configs: BindConfigs) -> tuple[str, list[str]]:
        return configs.recipe_hash(), [s.path for s in configs.job.source_specs]

    def __init__(self, configs: BindConfigs):
        self.configs = configs
        self.job = configs.job
        self.output_dir = Path(self.job.output_dir)
        self.prompter = _prompter(self.job)
        self.claim = self.take_claim(configs)
        self.state = JobState(self.output_dir, self.job.chunk_size, schema=SCHEMA)
        self.regenerated = 0
        self.drawn: DrawnPrompts | None = None
        self._user_role = None

    def draw(self) -> DrawnPrompts:
        """The job's prompt set, drawn from its sources, then its self-play conversations."""
        job = self.job
        drawn = draw_prompts(job.source_specs, job.num_prompts, job.sample_seed) if job.sources else DrawnPrompts()
        topics = list(job.selfplay_topics)
        if job.selfplay_sources and job.selfplay_conversations:
            seeds = draw_prompts(job.selfplay_source_specs, job.selfplay_conversations, f"{job.sample_seed}:seeds")
            topics += [{"topic": p, "category": c} for p, c in zip(seeds.prompts, seeds.categories, strict=True)]
        add_selfplay(drawn, topics, job.selfplay_conversations, job.sample_seed)
        return drawn

    def _fingerprint(self, drawn: DrawnPrompts) -> tuple[str, dict[str, Any]]:
        recipe = {**self.configs.recipe(), "prompt_set_sha256": sha256_json(drawn.ids)}
        return sha256_json(recipe), recipe

    def _owns(self, index: int) -> bool:
        return owned_by(index, self.job.shard_index, self.job.num_shards)

    def _requests(self, drawn: DrawnPrompts, index: int) -> tuple[list[BindRequest], list[str]]:
        span = range(index * self.job.chunk_size, min(len(drawn), (index + 1) * self.job.chunk_size))
        requests = [BindRequest(drawn.ids[i], drawn.categories[i], drawn.prompts[i], drawn.kinds[i]) for i in span]
        return requests, [drawn.sources[i] for i in span]

    def _generate(self, generator, requests: list[BindRequest]) -> tuple[list[BindResult], float]:
        """Results in request order: single prompts in one batch, self-play conversations advancing together."""
        start = time.perf_counter()
        singles = [r for r in requests if r.kind == "single"]
        plays = [r for r in requests if r.kind == "selfplay"]
        done = {r.id: r for r in generator.generate(singles)}
        if plays:
            done |= {r.id: r for r in play(generator, plays, self.job.selfplay_turns, self._user_role)}
        return [done[r.id] for r in requests], time.perf_counter() - start

    def _user_role_generator(self):
        """The backend that plays the user in self-play, when it is another model or other servers."""
        job, config = self.job, self.configs.generator
        if not (job.selfplay_user_model or job.selfplay_user_base_urls):
            return None
        user = replace(
            config,
            model=job.selfplay_user_model or config.model,
            base_urls=list(job.selfplay_user_base_urls or config.base_urls),
        )
        return build_bind_generator(user, self.prompter, self.configs.validation)

    def _write(self, index: int, rows: list[dict[str, Any]], seconds: float) -> AugmentStats:
        stats = chunk_stats(rows, seconds)
        columns = {name: [r[name] for r in rows] for name in SCHEMA.names}
        # the chunk's input identity (ids and prompts), which the job state records beside its rows
        self.state.write_chunk(index, columns, stats, range_fingerprint(columns, ("id", "prompt")))
        return stats

    def _retry_failed(self, generator, index: int) -> int:
        """Regenerate the ``failed`` rows of a finished chunk and rewrite it; returns how many were retried."""
        old = self.state.chunk_stats(index)
        if not old.status.get("failed"):
            return 0
        rows = pq.read_table(self.state.chunk_path(index)).to_pylist()
        failed = [i for i, row in enumerate(rows) if row["status"] == "failed"]
        requests = [
            BindRequest(rows[i]["id"], rows[i]["category"], rows[i]["prompt"], rows[i]["kind"]) for i in failed
        ]
        results, seconds = self._generate(generator, requests)
        for i, request, result in zip(failed, requests, results, strict=True):
            rows[i] = result_row(request, rows[i]["source"], result)
        self._write(index, rows, old.generator_seconds + seconds)
        return len(failed)

    def run_shard(self, drawn: DrawnPrompts | None = None) -> dict[str, Any]:
        """Write this shard's missing chunks and retry its failed rows; returns the shard's summary."""
        from tqdm.auto import tqdm

        drawn = self.drawn = drawn or self.draw()
        fingerprint, recipe = self._fingerprint(drawn)
        self.state.claim(fingerprint, recipe)
        self.state.remove_partial_writes(self._owns)
        chunks = [c for c in range(self.state.num_chunks(len(drawn))) if self._owns(c)]
        start, generated, run = time.perf_counter(), 0, AugmentStats()
        generator = build_bind_generator(self.configs.generator, self.prompter, self.configs.validation)
        self._user_role = self._user_role_generator() or generator
        bar = tqdm(total=len(chunks), unit="chunk", desc="bind-data", disable=not self.job.progress)
        with generator, self._user_role, bar:
            for index in chunks:
                if self.state.has_chunk(index):
                    self.regenerated += self._retry_failed(generator, index)
                else:
                    requests, sources = self._requests(drawn, index)
                    results, seconds = self._generate(generator, requests)
                    rows = [result_row(q, s, r) for q, s, r in zip(requests, sources, results, strict=True)]
                    run.add(self._write(index, rows, seconds))
                    generated += len(rows)
                bar.update(1)
        stats = self.state.stats_of(chunks)
        self.state.finish_shard(self.job.shard_index, self.job.num_shards, len(drawn), stats)
        elapsed = time.perf_counter() - start
        result = summary(stats, len(drawn))
        result["this_run"] = {
            "generated": generated,
            "regenerated_failed": self.regenerated,
            "seconds": round(elapsed, 3),
            "generator_seconds": round(run.generator_seconds, 3),
        }
        return result

    def merge(self, drawn: DrawnPrompts | None = None) -> dict[str, Any]:
        """Assemble every chunk, in order, into the final dataset with its card, ``spp.json`` and ``summary.json``."""
        files = self.state.complete_chunks()
        stats = self.state.stats_of(range(len(files)))
        dataset = _save_dataset(files, self.output_dir, self.state.root, keep_harm=True)
        result = summary(stats, len(dataset))
        result["by_category"] = _by_category(dataset)
        drawn = drawn or self.drawn or self.draw()
        result["left_out"] = {"duplicates": dict(drawn.duplicates), "empty": dict(drawn.empty)}
        meta = bind_metadata(self.configs, self.prompter, drawn, result)
        from spp.bind.card import render_bind_card

        card = lambda: render_bind_card(meta, dataset.features).save(self.output_dir / "README.md")  # noqa: E731
        write_final(self.output_dir, result, meta, card, self.job.hub_repo_id)
        self.claim.finish()
        return result
