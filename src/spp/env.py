"""``spp env``: what to paste into a bug report (versions, devices, accelerate config, the Hub), as ``trl env`` does.

    spp env
    spp env --json true > env.json
    HF_HUB_OFFLINE=1 spp env                     # no network request: the Hub is reported as offline

The Hub part is ``huggingface_hub.dump_environment_info`` (its own machine, token and cache report); spp adds the
versions of the stack it runs on, the devices torch sees, the default ``accelerate`` config and whether the Hub
endpoint answers. Nothing here fails the command: what cannot be read is reported as such, and it exits 0.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

from spp.checks import POSITIVE

# The distributions whose versions a bug report needs (pip names).
LIBRARIES = (
    "spp",
    "torch",
    "transformers",
    "trl",
    "datasets",
    "accelerate",
    "huggingface_hub",
    "datatrove",
    "liger-kernel",
    "torchao",
    "tokenizers",
    "safetensors",
    "evaluate",
    "pyarrow",
    "numpy",
    "flash-attn",
    "deepspeed",
    "vllm",
)


@dataclass
class EnvArguments:
    """What ``spp env`` reports and how."""

    RANGES = {"hub_timeout": POSITIVE}

    json: bool = field(default=False, metadata={"help": "Print one JSON object instead of the readable list."})
    hub_timeout: float = field(
        default=5.0, metadata={"help": "Seconds to wait for the Hub endpoint (not contacted with HF_HUB_OFFLINE=1)."}
    )


def versions() -> dict[str, str]:
    """Python's version and each of ``LIBRARIES``' (``not installed`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def devices() -> dict[str, Any]:
    """What torch sees: CUDA (version, devices, bf16), else MPS, else the CPU."""
    try:
        import torch
    except ImportError as err:
        return {"torch": f"not importable ({err})"}
    info: dict[str, Any] = {"cuda available": torch.cuda.is_available(), "cuda (torch built with)": torch.version.cuda}
    if torch.cuda.is_available():
        info["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["bf16 supported"] = torch.cuda.is_bf16_supported()
        info["cudnn"] = torch.backends.cudnn.version()
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        info["devices"] = ["mps"]
    else:
        info["devices"] = [f"cpu ({torch.get_num_threads()} threads)"]
    return info


def accelerate_config() -> dict[str, Any] | str:
    """The default ``accelerate config`` file's settings, or where it was looked for."""
    try:
        from accelerate.commands.config import default_config_file, load_config_from_file
    except ImportError as err:
        return f"accelerate not importable ({err})"
    from pathlib import Path

    if not Path(default_config_file).is_file():
        return f"none ({default_config_file} does not exist; spp's recipes pass --config_file)"
    try:
        return load_config_from_file(default_config_file).to_dict()
    except Exception as err:  # a broken file is reported, not raised
        return f"{default_config_file}: not readable ({type(err).__name__}: {err})"


def hub_info(timeout: float) -> dict[str, Any]:
    """``huggingface_hub.dump_environment_info()`` (its printout silenced) and whether its endpoint answers."""
    import contextlib
    import io

    from huggingface_hub import constants, dump_environment_info

    with contextlib.redirect_stdout(io.StringIO()):
        info = dict(dump_environment_info())
    info["Hub reachable"] = hub_reachable(constants.ENDPOINT, timeout)
    return info


def hub_reachable(endpoint: str, timeout: float) -> str:
    """``yes (HTTP n)``, ``offline mode`` or ``no (why)``: one HEAD request to ``endpoint``."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "offline mode (HF_HUB_OFFLINE=1): not contacted"
    from huggingface_hub.utils import get_session

    try:
        response = get_session().head(endpoint, timeout=timeout)
    except Exception as err:  # no network, DNS, proxy: the answer is "no", with why
        return f"no ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})".replace(": )", ")")
    return f"yes (HTTP {response.status_code} from {endpoint})"


@dataclass
class Environment:
    """What ``spp env`` found."""

    versions: dict[str, str]
    devices: dict[str, Any]
    accelerate: dict[str, Any] | str
    hub: dict[str, Any]
    as_json: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": platform.platform(),
            "versions": self.versions,
            "devices": self.devices,
            "accelerate config": self.accelerate,
            "hub": self.hub,
        }


def collect(args: EnvArguments) -> Environment:
    """Everything ``spp env`` reports (see the module docstring)."""
    return Environment(versions(), devices(), accelerate_config(), hub_info(args.hub_timeout), args.json)


def env_summary(found: Environment) -> str:
    """The report: JSON, or ``- key: value`` lines under a heading per part, ready to paste into an issue."""
    data = found.as_dict()
    if found.as_json:
        return json.dumps(data, indent=2, default=str)
    lines = ["Copy-paste the following information when reporting an issue:", "", f"- platform: {data['platform']}"]
    for part in ("versions", "devices", "accelerate config", "hub"):
        value = data[part]
        lines.append(f"- {part}:" + ("" if isinstance(value, dict) else f" {value}"))
        if isinstance(value, dict):
            lines += [f"    - {key}: {_text(item)}" for key, item in value.items()]
    return "\n".join(lines)


def _text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
