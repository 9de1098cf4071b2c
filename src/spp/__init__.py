"""spp: Synthetic Persona Pretraining on the Hugging Face stack.

The public API lives in the stage modules (``spp.persona``, ``spp.generate``, ``spp.data``, ...);
importing ``spp`` itself stays cheap so that ``spp --help`` answers at once.
"""

__version__ = "0.1.0"
