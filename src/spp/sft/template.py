"""The persona-bound chat template: the assistant turn opens with the pretraining marker.

Promises:
- The assistant turn is rendered as ``{marker}{content}{end}``, exactly the reflection block the model read during
  pretraining, so the assistant the model becomes is the persona that wrote those reflections. ``end`` is the end
  marker, or the tokenizer's ``eos_token`` where the block format has none (the authors': ``<assistant>`` and no end
  token). A ``plain`` spec (``assistant_prefix`` set: the authors' baselines) opens the turn with that text instead.
- ``{% generation %}`` covers the assistant's content and its end (the token it must emit to stop), and nothing
  else: TRL's ``assistant_only_loss`` trains on exactly those tokens. The opening marker is part of the prompt
  (``add_generation_prompt`` ends with it), so it is never a training target.
- The template is a pure function of the block format, the persona and the role prefixes: every arm whose base model
  records the same persona and markers gets byte-identical templates (and SFT hashes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from spp.contract import BlockFormat

TEMPLATE_VERSION = "spp-chat-v2"


@dataclass(frozen=True)
class TemplateSpec:
    """Everything the chat template depends on. ``system_prompt=None`` renders no default system turn;
    ``assistant_prefix=None`` opens the assistant turn with the marker (``marker`` style), a text with that text."""

    block_format: BlockFormat
    system_prompt: str | None
    system_prefix: str = "System: "
    user_prefix: str = "User: "
    turn_separator: str = "\n"
    assistant_prefix: str | None = None

    @property
    def style(self) -> str:
        return "marker" if self.assistant_prefix is None else "plain"


def persona_system_prompt(persona: dict[str, Any]) -> str:
    """The default system turn naming the assistant as the persona: ``"You are NAME. IDENTITY"``."""
    identity = " ".join(str(persona.get("identity") or "").split())
    return f"You are {persona['name']}. {identity}".strip()


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def build_chat_template(spec: TemplateSpec) -> str:
    """A Jinja chat template for ``spec`` (see the module docstring for what it promises).

    A conversation's own system message replaces the default one; roles other than system/user/assistant raise.
    """
    fmt = spec.block_format
    header = (
        f"{{#- {TEMPLATE_VERSION} -#}}\n"
        f"{{%- set marker = {_literal(fmt.marker if spec.assistant_prefix is None else spec.assistant_prefix)} -%}}\n"
        f"{{%- set end_marker = {_literal(fmt.end_marker)} or eos_token | default('', true) -%}}\n"
        f"{{%- set system_prefix = {_literal(spec.system_prefix)} -%}}\n"
        f"{{%- set user_prefix = {_literal(spec.user_prefix)} -%}}\n"
        f"{{%- set sep = {_literal(spec.turn_separator)} -%}}\n"
        f"{{%- set default_system = {_literal(spec.system_prompt or '')} -%}}\n"
    )
    body = """\
{%- if messages and messages[0]['role'] == 'system' -%}
{{- system_prefix + messages[0]['content'] + sep -}}
{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- if default_system -%}{{- system_prefix + default_system + sep -}}{%- endif -%}
{%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
{%- if message['role'] == 'user' -%}
{{- user_prefix + message['content'] + sep -}}
{%- elif message['role'] == 'assistant' -%}
{{- marker -}}{%- generation -%}{{- message['content'] + (end_marker or eos_token) -}}{%- endgeneration -%}
{%- else -%}
{{- raise_exception('spp chat template: unsupported role ' + message['role']) -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- marker -}}{%- endif -%}
"""
    return header + body
