"""``spp demo`` and the toy material it runs on, kept out of the library's stage packages.

- ``spp.demo.cli``: ``spp demo``, ``spp experiment`` on the embedded tiny recipe (``DEMO_RECIPE``);
- ``spp.demo.report``: the method report and summary ``spp demo`` prints after the run;
- ``spp.demo.toydata``: the toy chat set and small benchmark files of the experiment's ``toy_data`` step;
- ``spp.demo.corpus``: a synthetic augmented corpus and tokenizer, the offline input of ``recipes/pretrain/tiny.yaml``
  (``python -m spp.demo.corpus runs/tiny-corpus``).

None of it is the paper's data: it exists so the whole pipeline runs offline, on a CPU, in minutes.
"""

from pathlib import Path

DEMO_RECIPE = Path(__file__).parent / "data" / "demo.yaml"
"""The embedded tiny experiment recipe ``spp demo`` runs (it ships in the wheel: pip installs have no recipes/)."""

__all__ = ["DEMO_RECIPE"]
