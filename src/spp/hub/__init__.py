"""Cards, publishing (models, datasets, per-step checkpoint branches), local exports and downloads.

    from spp.hub.publish import publish_model, publish_dataset
    from spp.hub.checkpoints import HubCheckpointCallback
    from spp.hub.download import download, list_checkpoints

Submodules import ``huggingface_hub`` / ``transformers`` only when used, so ``import spp.hub`` stays cheap.
"""
