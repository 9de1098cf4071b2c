"""Who may talk to the Hub, and keeping the token out of everything spp writes or says.

The token comes only from the environment (``HF_TOKEN``) or the user's ``hf auth login`` file, through
``huggingface_hub`` itself: spp never accepts, stores or forwards one.
"""

from __future__ import annotations

import os
from pathlib import Path

from spp.errors import SppConfigError

_TOKEN_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read now rather than at import time."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return env.strip().upper() in {"1", "ON", "YES", "TRUE"} or constants.is_offline_mode()


def ensure_online(action: str) -> None:
    """Raise ``SppConfigError`` at once when the Hub is switched off, before any work is done."""
    if hub_offline():
        raise SppConfigError(
            f"HF_HUB_OFFLINE=1 is set, so spp cannot {action}",
            fix="unset HF_HUB_OFFLINE to reach the Hub, or stage the release in a folder with --to_dir",
        )


def known_tokens() -> list[str]:
    """Token values this process could send: from the environment and the login file (not network-refreshed)."""
    from huggingface_hub import constants

    tokens = [os.environ.get(name, "").strip() for name in _TOKEN_ENV]
    path = Path(constants.HF_TOKEN_PATH)
    if path.is_file():
        tokens.append(path.read_text().strip())
    return [t for t in tokens if len(t) >= 8]


def redact(text: str) -> str:
    """``text`` with every known token value replaced by ``***``."""
    for token in known_tokens():
        text = text.replace(token, "***")
    return text


def get_api(api=None):
    """``api`` if given (tests inject a stub), else an ``HfApi`` that finds the token on its own."""
    if api is not None:
        return api
    from huggingface_hub import HfApi

    return HfApi(library_name="spp")
