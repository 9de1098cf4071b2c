"""``spp render-prompt``: show exactly what the generator will be asked for one document, and the prompt hash.

    spp render-prompt --document "Some text to reflect on." --constitution my_constitution.md --persona me.yaml
"""

from __future__ import annotations

from spp.stages import stage_main

main = stage_main("render-prompt")

