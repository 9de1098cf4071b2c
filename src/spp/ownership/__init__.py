"""Who owns an output: no stage overwrites or deletes what spp did not write, and no run mixes two recipes.

One rule for every stage that writes (score-harm, augment, bind-data, pretrain, sft, attack, eval, compare, curves,
judge-audit, publish, download, and any stage added later), applied by one call before the stage writes anything::

    with claim_output("eval", config.output_dir, recipe_hash=digest, inputs=[config.model],
                      overwrite=config.overwrite) as claim:
        ...                                  # write into config.output_dir
        claim.record()                       # optional: refresh the manifest during a long run

Promises:

- An output folder is spp's when it holds spp's marker ``.spp-output.json`` with a claim: the stage that wrote it,
  the run's recipe hash and data view, and the manifest of the top-level entries that run wrote (a folder spp wrote
  is one entry). A stage that writes named files into a shared folder (``spp attack``'s ``test_cases.json``,
  ``spp judge-audit``'s report) claims only those names (reserved from the start, so that a run killed while
  writing them still owns them).
- A new or empty folder is claimed. A non-empty folder without a claim (foreign), or an existing file no claim lists,
  is refused (``SppConfigError``, exit 2), with or without ``overwrite``: nothing in it is touched.
- Another stage's claim, or this stage's with another recipe hash or data view, is refused unless ``overwrite``;
  with it, exactly the entries in that claim's manifest go, and the log says what was removed and what was kept.
- The same stage with the same recipe hash and data view continues (a resume, a rerun): entries it did not write (a
  user's ``notes.txt``) are kept and never enter its manifest. Entries that appear while a stage runs count as its
  own (they are recorded at ``record``/``finish``; a crash between a write and the next record leaves that entry
  unlisted, hence kept by a later ``overwrite``).
- Writing in place (an output equal to an input, or one inside the other) is refused, ``overwrite`` or not.
- A claim refused, or a run that fails before it wrote anything, leaves no marker and no folder behind.
- Exports and Hub repos (``spp.hub.owners.check_export_owner``, on ``run_identity``): before a run's first save, an existing ``main`` or ``step-*`` of
  another run (recipe hash, SFT hash or data view) is refused naming both runs; with ``overwrite``, those refs go
  (a local export's ref folders, a Hub repo's ``step-*`` branches; ``main`` is replaced by the run's own upload).
  A resume of the same run is allowed.
"""

from spp.ownership.claims import (
    MARKER,
    Claim,
    OutputClaim,
    check_not_in_place,
    claim_output,
    clear_output,
    read_claims,
)
from spp.ownership.identity import run_identity
from spp.ownership.training import on_main_process, recording_callback

__all__ = [
    "MARKER",
    "Claim",
    "OutputClaim",
    "check_not_in_place",
    "claim_output",
    "clear_output",
    "on_main_process",
    "read_claims",
    "recording_callback",
    "run_identity",
]
