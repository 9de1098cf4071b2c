"""Data: built-in corpora, sources, harm scoring, selection, the resumable augmentation job, and the import of
released reflections (``spp import-reflections``: ``spp.data.mapping``, ``spp.data.sidecar``, ``spp.data.import_job``).

Scoring and augmentation are plain batched callables for ``Dataset.map(fn, batched=True)``; ``spp augment`` and
``spp score-harm`` are thin drivers over them.
"""

from spp.data.augment import REFLECTION_COLUMNS, Augmenter, AugmentStats
from spp.data.corpora import BUILTIN_CORPORA, load_builtin
from spp.data.fit import ReflectionFit, ReflectionFitConfig
from spp.data.scoring import (
    HARM_SCORERS,
    HarmScoreConfig,
    HarmScoreMap,
    HarmScorer,
    build_scorer,
    register_scorer,
)
from spp.data.selection import SelectionConfig, is_selected, stratified_rest_probability
from spp.data.sources import SourceConfig, load_source, text_id

__all__ = [
    "BUILTIN_CORPORA",
    "HARM_SCORERS",
    "REFLECTION_COLUMNS",
    "AugmentStats",
    "Augmenter",
    "HarmScoreConfig",
    "HarmScoreMap",
    "HarmScorer",
    "ReflectionFit",
    "ReflectionFitConfig",
    "SelectionConfig",
    "SourceConfig",
    "build_scorer",
    "is_selected",
    "load_builtin",
    "load_source",
    "register_scorer",
    "stratified_rest_probability",
    "text_id",
]
