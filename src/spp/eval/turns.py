"""What eval sends: the model's ``spp.json`` and persona, the system turn (the recipe's, the persona's, or the chat
template's own, checked against ``system_prompt``), and one generation request per item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spp.contract import read_spp_json
from spp.errors import SppConfigError
from spp.eval.config import EvalConfig
from spp.eval.generation import GenRequest, GenSettings
from spp.eval.items import EvalItem
from spp.eval.probes import persona_system_prompt
from spp.metadata import SppMetadata
from spp.persona.spec import Persona, load_persona, persona_from_dict


def model_metadata(config: EvalConfig) -> SppMetadata | None:
    """The model's ``spp.json``: a local folder or export, or a Hub id (``spp.contract.read_spp_json``)."""
    if not config.model:
        return None
    if config.backend == "openai" and not Path(config.model).exists():
        return None  # a served model's name, not a reference to its files
    return read_spp_json(config.model, revision=config.revision or None)


def resolve_persona(config: EvalConfig, meta: SppMetadata | None) -> Persona | None:
    """The persona of the model's ``spp.json``, else the ``persona`` YAML of the config, else ``None``."""
    if meta is not None and meta.persona:
        return persona_from_dict(meta.persona, source=f"{config.model}/spp.json")
    return load_persona(config.persona) if config.persona else None


def system_text(config: EvalConfig, persona: Persona | None) -> str | None:
    """The system turn eval sends: ``None`` for ``none`` and ``template`` (which sends none and lets the chat
    template add its own default), the persona's for ``persona``, else the literal text."""
    if config.system_prompt in ("", "none", "template"):
        return None
    if config.system_prompt == "persona":
        if persona is None:
            raise SppConfigError(
                "system_prompt persona needs a persona",
                field="system_prompt",
                fix="evaluate a model with an spp.json, or pass persona: PATH",
            )
        return persona_system_prompt(persona)
    return config.system_prompt


def to_request(item: EvalItem, chat: bool, system: str | None, settings: GenSettings) -> GenRequest:
    messages = ((("system", system),) if system and chat else ()) + (("user", item.prompt),)
    return GenRequest(messages=messages, prefill=item.prefill, chat=chat, settings=settings)


def generation_settings(
    config: EvalConfig, temperature: float | None, max_new_tokens: int | None = None
) -> GenSettings:
    temp = config.temperature if temperature is None else temperature
    return GenSettings(max_new_tokens or config.max_new_tokens, temp, config.top_p, config.seed)


def template_system_turn(backend: Any) -> str | None:
    """The system turn the model's chat template adds by itself when none is sent (SmolLM2's, or spp's SFT template
    with ``persona_system_prompt``), else ``None``. ``backend`` is anything with a ``tokenizer``, or a tokenizer."""
    tokenizer = getattr(backend, "tokenizer", backend)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return None
    probe_user, probe_system = "\u2063USER\u2063", "\u2063SYSTEM\u2063"
    try:
        alone = tokenizer.apply_chat_template([{"role": "user", "content": probe_user}], tokenize=False)
        with_system = tokenizer.apply_chat_template(
            [{"role": "system", "content": probe_system}, {"role": "user", "content": probe_user}], tokenize=False
        )
    except Exception:  # a template that refuses a system turn cannot add one either
        return None
    system_header = with_system.split(probe_system, 1)[0]
    before_user = alone.split(probe_user, 1)[0]
    if system_header and before_user.startswith(system_header):
        user_header = with_system.split(probe_system, 1)[1].split(probe_user, 1)[0]
        added = before_user[len(system_header) :]
        tail = next(
            (added.rfind(user_header[:k]) for k in range(len(user_header), 0, -1) if user_header[:k] in added), -1
        )
        return (added[:tail] if tail > 0 else added).strip() or None
    return None


def check_system_turn(config: EvalConfig, tokenizer: Any, system: str | None) -> str | None:
    """The chat template's own system turn (recorded in results); with ``system_prompt: none`` a template that adds
    one raises: eval sends exactly the turns the recipe says."""
    added = template_system_turn(tokenizer) if tokenizer is not None and not system else None
    if added and config.system_prompt in ("", "none"):
        raise SppConfigError(
            f"system_prompt is none, but the model's chat template adds a system turn by itself: {added[:100]!r}",
            field="system_prompt",
            fix="set system_prompt: template to evaluate with it (it is recorded), or post-train the model without "
            "a default system turn (spp sft --persona_system_prompt false, the authors' setting)",
        )
    return added
