"""Tiny stand-ins of the SPP authors' release, for tests of everything that reads it (no Hub here).

What they mimic is what ``recipes/releases/dlab-spp.yaml`` says of the release (facts from its public cards, not
checked against its files): per arm (``vanilla``, ``filtered``, ``t0``, ``mt``, ``t0-mt``) an ``-instruct`` model and a
``-base`` model whose trajectory is published as ``step*`` revisions; no ``spp.json`` anywhere; a tokenizer with the
added special tokens ``<assistant>`` (the first id after the base vocabulary, as 49152 follows SmolLM2's 49,152) and 35
``<charter_X.Y>``, embeddings padded past it (as 49,280), two named chat templates ``default`` and ``epe`` whose
assistant turns open with ``<assistant>``, and no system turn (a system message is refused).

``build_release(root)`` writes every model as a local export (``spp.hub.export``) under the repo ids of the registry
and returns a ``StubHub`` that serves the same exports through the Hub boundary spp calls (``HfApi.model_info``,
``HfApi.list_repo_refs``, ``huggingface_hub.snapshot_download``): ``StubHub.install(monkeypatch)`` patches exactly
those, so spp's own code runs unchanged. Models are random ``tiny``-spec Llamas: their answers mean nothing.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ARMS = ("vanilla", "filtered", "t0", "mt", "t0-mt")
SIZE = "1.7b"
ORG = "dlab-spp"
MARKER = "<assistant>"
# 35 constitution sections X.Y over six domains, as the authors' constitution has
CHARTER_SECTIONS = tuple(f"{d}.{s}" for d, count in enumerate((6, 6, 6, 6, 6, 5), 1) for s in range(1, count + 1))
CHARTER_TOKENS = tuple(f"<charter_{section}>" for section in CHARTER_SECTIONS)
_NO_SYSTEM = "{% if m['role'] == 'system' %}{{ raise_exception('this model takes no system turn') }}{% endif %}"
DEFAULT_TEMPLATE = (
    "{% for m in messages %}" + _NO_SYSTEM + "{% if m['role'] == 'user' %}<|user|>{{ m['content'] }}<|end|>\n"
    "{% else %}<assistant>{{ m['content'] }}<|endoftext|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
EPE_TEMPLATE = (
    "{% for m in messages %}" + _NO_SYSTEM + "{% if m['role'] == 'user' %}Question: {{ m['content'] }}\n"
    "{% else %}<assistant>{{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
)
BASE_STEPS = (1000, 2000, 3000)
TOKENS_PER_STEP = 1_966_080  # the registry's: global batch 960 windows x 2048 tokens


def step_ref(step: int) -> str:
    """A trajectory revision in the authors' spelling as we know it: ``step1000-tokens2B``."""
    return f"step{step}-tokens{round(step * TOKENS_PER_STEP / 1e9)}B"


def instruct_repo(arm: str) -> str:
    return f"{ORG}/{arm}-{SIZE}-instruct"


def base_repo(arm: str) -> str:
    return f"{ORG}/{arm}-{SIZE}-base"


def release_texts() -> list[str]:
    """Text the stand-in tokenizer is trained on: the demo corpus' words and a few chat lines."""
    from spp.demo.corpus import demo_rows

    rows = demo_rows(120, seed=1)
    texts = [r["text"] for r in rows] + [r["reflection_1p"] or "" for r in rows]
    return texts + ["Question: how do I stay honest?", "I will not help with that request.", "Who are you?"]


def release_tokenizer(base_vocab: int = 320, templates: bool = True):
    """The stand-in tokenizer: a BPE of ``base_vocab`` tokens, then ``<assistant>`` (id ``base_vocab``) and the 35
    charter tokens as added special tokens; ``templates`` adds the named templates ``default`` and ``epe``."""
    from spp.pretrain.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(release_texts(), base_vocab, special_tokens=("<|endoftext|>", "<|user|>", "<|end|>"))
    if len(tokenizer) != base_vocab:
        raise RuntimeError(f"the stand-in's base vocabulary came out at {len(tokenizer)}, not {base_vocab}")
    tokenizer.add_special_tokens({"additional_special_tokens": [MARKER, *CHARTER_TOKENS]})
    if templates:
        tokenizer.chat_template = {"default": DEFAULT_TEMPLATE, "epe": EPE_TEMPLATE}
    return tokenizer


def save_model(directory: Path, tokenizer, seed: int) -> Path:
    """A random ``tiny`` Llama over ``tokenizer`` with embeddings padded to a multiple of 64 (as 49,280), no
    ``spp.json``."""
    from spp.pretrain.specs import build_model

    model = build_model("tiny", tokenizer, seed=seed, pad_vocab_to_multiple_of=64)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def write_release_corpus(directory: Path, tokenizer_dir: str | Path, rows: int = 60, seed: int = 3) -> Path:
    """A small augmented corpus in the release's block format (``<assistant>`` + reflection, no end token) whose
    ``spp.json`` records ``tokenizer_dir`` as its training tokenizer."""
    import datasets

    from spp.contract import ReflectionContract, record_contract
    from spp.demo.corpus import demo_rows
    from spp.metadata import SppMetadata

    datasets.Dataset.from_list(demo_rows(rows, seed, reflection_rate=0.5)).save_to_disk(str(directory))
    contract = ReflectionContract(marker=MARKER, end_marker="", reflection_budget=64, seq_len=128)
    record_contract(SppMetadata(kind="dataset"), contract, tokenizer=str(tokenizer_dir)).save(directory)
    return directory


@dataclass
class Release:
    """The stand-ins on disk: ``exports[repo_id]`` is each repo's local export; ``hub`` serves them as the Hub."""

    root: Path
    exports: dict[str, Path]
    tokenizer_dir: Path
    hub: StubHub = field(repr=False, default=None)  # type: ignore[assignment]

    def instruct(self, arm: str) -> Path:
        return self.exports[instruct_repo(arm)]

    def base(self, arm: str) -> Path:
        return self.exports[base_repo(arm)]


def build_release(root: str | Path, arms: tuple[str, ...] = ARMS, steps: tuple[int, ...] = BASE_STEPS) -> Release:
    """Write the stand-ins under ``root`` (module docstring): per arm an instruct export (``main``) and a base export
    (``main`` = the last step, one ``step*-tokens*B`` branch per step, and a ``v1.0`` tag)."""
    from spp.hub.export import LocalExport

    root = Path(root)
    tokenizer = release_tokenizer()
    tokenizer_dir = root / "tokenizer"
    tokenizer.save_pretrained(tokenizer_dir)
    exports: dict[str, Path] = {}
    for a, arm in enumerate(arms):
        export = LocalExport(root / "hub" / instruct_repo(arm), repo_id=instruct_repo(arm))
        export.write_tree("main", save_model(root / "trees" / f"{arm}-instruct", tokenizer, seed=100 + a))
        exports[instruct_repo(arm)] = export.root
        export = LocalExport(root / "hub" / base_repo(arm), repo_id=base_repo(arm))
        for k, step in enumerate(steps):
            tree = save_model(root / "trees" / f"{arm}-base-{step}", tokenizer, seed=1000 * a + k)
            export.write_tree(step_ref(step), tree)
        export.write_tree("main", root / "trees" / f"{arm}-base-{steps[-1]}")
        export.tag("v1.0", "main")
        exports[base_repo(arm)] = export.root
    release = Release(root, exports, tokenizer_dir)
    release.hub = StubHub(exports, root / "hub-cache")
    return release


def _sha(files: dict[str, str]) -> str:
    """A 40-hex commit id for a tree (stand-in for the Hub's git sha)."""
    return hashlib.sha1(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _http_error(cls: type, message: str) -> Exception:
    response = SimpleNamespace(headers={}, request=None, status_code=404)
    return cls(message, response=response)


class StubHub:
    """The Hub boundary spp calls, served from local exports: ``model_info`` (a revision's commit sha),
    ``list_repo_refs`` and ``snapshot_download`` (into ``cache``, one folder per commit). ``calls`` records them."""

    def __init__(self, exports: dict[str, Path], cache: Path):
        self.exports = exports
        self.cache = Path(cache)
        self.calls: list[tuple[str, str, str | None]] = []

    def _refs(self, repo_id: str) -> dict[str, dict[str, Any]]:
        from huggingface_hub.errors import RepositoryNotFoundError

        if repo_id not in self.exports:
            raise _http_error(RepositoryNotFoundError, f"404 Client Error: Repository Not Found for url: {repo_id}")
        return json.loads((self.exports[repo_id] / "spp_export.json").read_text())["refs"]

    def _ref(self, repo_id: str, revision: str | None) -> tuple[str, str]:
        """``(ref name, commit)`` of a branch, tag or commit id."""
        from huggingface_hub.errors import RevisionNotFoundError

        refs = self._refs(repo_id)
        revision = revision or "main"
        for name, ref in refs.items():
            if revision in (name, _sha(ref["files"])):
                return name, _sha(ref["files"])
        raise _http_error(RevisionNotFoundError, f"404 Client Error: Revision Not Found for url: {repo_id}@{revision}")

    def model_info(self, repo_id: str, *, revision: str | None = None, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(("model_info", repo_id, revision))
        return SimpleNamespace(id=repo_id, sha=self._ref(repo_id, revision)[1])

    def list_repo_refs(self, repo_id: str, *, repo_type: str | None = None, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(("list_repo_refs", repo_id, None))
        refs = self._refs(repo_id)

        def info(name: str) -> SimpleNamespace:
            kind = "tags" if refs[name].get("kind") == "tag" else "heads"
            return SimpleNamespace(name=name, ref=f"refs/{kind}/{name}", target_commit=_sha(refs[name]["files"]))

        branches = [info(n) for n in sorted(refs) if refs[n].get("kind") != "tag"]
        tags = [info(n) for n in sorted(refs) if refs[n].get("kind") == "tag"]
        return SimpleNamespace(branches=branches, tags=tags, converts=[], pull_requests=None)

    def snapshot_download(self, repo_id: str, *, revision: str | None = None, allow_patterns=None, **kwargs: Any):
        self.calls.append(("snapshot_download", repo_id, revision))
        name, sha = self._ref(repo_id, revision)
        target = self.cache / repo_id.replace("/", "--") / "snapshots" / sha
        if not target.is_dir():
            source = self.exports[repo_id] / name
            for path in sorted(p for p in source.rglob("*") if p.is_file()):
                rel = path.relative_to(source).as_posix()
                if allow_patterns and not any(fnmatch.fnmatch(rel, pattern) for pattern in allow_patterns):
                    continue
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / rel)
        return str(target)

    def install(self, monkeypatch: Any) -> StubHub:
        """Patch ``HfApi.model_info``, ``HfApi.list_repo_refs`` and ``huggingface_hub.snapshot_download`` (the
        ``monkeypatch`` of pytest, or anything with its ``setattr``)."""
        import huggingface_hub

        stub = self
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, *a, **k: stub.model_info(*a, **k))
        monkeypatch.setattr(
            huggingface_hub.HfApi, "list_repo_refs", lambda self, *a, **k: stub.list_repo_refs(*a, **k)
        )
        monkeypatch.setattr(huggingface_hub, "snapshot_download", stub.snapshot_download)
        return self
