"""Which chat template a model is prompted with: its own, one of its named templates, or a file, recorded by sha256.

A recipe's ``chat_template`` field is one of:

- ``model`` (the default): the tokenizer's own template (with several named templates, the one named ``default``);
- a name (e.g. ``epe``): one of the tokenizer's named templates (``additional_chat_templates/<name>.jinja`` in its
  folder, or a ``{name, template}`` entry of ``tokenizer_config.json``); ``default`` also names a lone template;
- a path ending in ``.jinja`` (or any existing file): that file's text.

Promises:
- A model with no usable template (none at all, or no template of that name) is ``SppConfigError`` naming the field
  and the templates it has: spp never falls back to a template of its own.
- ``ChatTemplate.record()`` (name, where it came from, sha256 of its text) is what results and attack records keep;
  ``use_chat_template`` sets exactly that text on the tokenizer, so every prompt rendered afterwards uses it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spp.errors import SppConfigError

CHAT_TEMPLATE_HELP = (
    "model (the tokenizer's own template; its 'default' one when it has several), the name of one of its named "
    "templates (e.g. epe), or a .jinja file"
)
TEMPLATE_FILE = "chat_template.jinja"
TEMPLATE_DIR = "additional_chat_templates"


@dataclass(frozen=True)
class ChatTemplate:
    """A template's text, its name, where it came from (``model:<file>`` or ``file:<path>``) and its sha256."""

    text: str
    name: str
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def record(self) -> dict[str, str]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256}


def named_templates(tokenizer: Any) -> dict[str, str]:
    """The tokenizer's templates by name (a lone template is ``default``); empty when it has none."""
    found = getattr(tokenizer, "chat_template", None)
    if isinstance(found, dict):
        return {str(k): v for k, v in found.items() if isinstance(v, str) and v.strip()}
    return {"default": found} if isinstance(found, str) and found.strip() else {}


def _model_file(model_dir: Path | None, name: str) -> str:
    """Where a named template of a model folder is stored (for the record)."""
    if model_dir is not None:
        for candidate in ((TEMPLATE_FILE,) if name == "default" else ()) + (f"{TEMPLATE_DIR}/{name}.jinja",):
            if (model_dir / candidate).is_file():
                return f"model:{candidate}"
    return "model:tokenizer_config.json"


def is_template_file(spec: str) -> bool:
    return spec.endswith(".jinja") or Path(spec).is_file()


def resolve_chat_template(
    tokenizer: Any, spec: str = "model", *, model_dir: str | Path | None = None, field: str = "chat_template"
) -> ChatTemplate:
    """The template ``spec`` names for ``tokenizer`` (module docstring); ``SppConfigError`` naming ``field`` when the
    model has no usable one. ``model_dir`` (the model's local folder) only says which file a template came from."""
    spec = (spec or "model").strip()
    folder = Path(model_dir) if model_dir is not None else None
    if is_template_file(spec):
        path = Path(spec)
        if not path.is_file():
            raise SppConfigError(f"chat template file {spec!r} does not exist", field=field, fix="give a .jinja file")
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            raise SppConfigError(f"chat template file {spec!r} is empty", field=field)
        return ChatTemplate(text, path.stem, f"file:{path.resolve()}")
    templates = named_templates(tokenizer)
    name = "default" if spec == "model" else spec
    if name in templates:
        return ChatTemplate(templates[name], name, _model_file(folder, name))
    where = f" ({folder})" if folder is not None else ""
    if not templates:
        raise SppConfigError(
            f"the model's tokenizer{where} has no chat template, so its prompts cannot be rendered as it expects "
            "(spp never substitutes a template of its own)",
            field=field,
            fix="give a template file (chat_template: path/to/template.jinja), or evaluate an instruct model",
        )
    raise SppConfigError(
        f"the model's tokenizer{where} has no chat template named {name!r}; it has: {', '.join(sorted(templates))}",
        field=field,
        fix=f"set {field} to one of those names, model, or a .jinja file",
    )


def use_chat_template(tokenizer: Any, template: ChatTemplate) -> Any:
    """Make ``template`` the tokenizer's only template (in place) and return the tokenizer."""
    tokenizer.chat_template = template.text
    return tokenizer
