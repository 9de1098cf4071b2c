"""Multi-turn self-play: a second role plays the user for N turns, on seeded topics, with rising pressure.

For each conversation, turn by turn: the user role (a second model, or the same generator asked to play the user)
writes the next user message given the topic, the turn's pressure level (harmful topics escalate from a plain request
to insisting, to a role-play or hypothetical reframing, to claimed authority and "ignore your rules") and the
conversation so far; then the persona answers it in paired form, judged by the same validator as single prompts (a
harmful topic under a reframing is judged as a jailbreak). All live conversations advance together, one batch of
requests per step.

Promises: one ``BindResult`` per conversation, in order: ``ok`` with the whole conversation in both renderings (user
turns identical, persona turns cited / uncited), or ``rejected`` / ``failed`` naming the turn and the reason
(``turn 2 user: no_json``, ``turn 3: harm_not_named``, ``turn 1 user: http_503``). Nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spp.bind.generate import BindGenerator, BindRequest, BindResult
from spp.bind.prompts import turn_category
from spp.generate.validate import parse_json_object


@dataclass
class _Conversation:
    request: BindRequest
    cited: list[dict[str, str]] = field(default_factory=list)
    uncited: list[dict[str, str]] = field(default_factory=list)
    status: str | None = None
    reason: str | None = None
    raw: str | None = None
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    citations: list[str] = field(default_factory=list)
    harm: str | None = None
    wrapper: str | None = None
    pending: str | None = None

    def history(self) -> list[tuple[str, str]]:
        return [(self.uncited[i]["content"], self.uncited[i + 1]["content"]) for i in range(0, len(self.uncited), 2)]

    def stop(self, status: str, reason: str, raw: str | None = None) -> None:
        self.status, self.reason, self.raw = status, reason, raw


def _user_turns(user_role: BindGenerator, live: list[_Conversation], turn: int, turns: int) -> None:
    prompter = user_role.prompter
    asks = [prompter.user_role_messages(c.request.prompt, c.request.category, turn, turns, c.history()) for c in live]
    for conv, out in zip(live, user_role.complete(asks), strict=True):
        conv.attempts += out.attempts
        conv.tokens_in, conv.tokens_out = conv.tokens_in + out.tokens_in, conv.tokens_out + out.tokens_out
        if out.text is None:
            conv.stop("failed", f"turn {turn + 1} user: {out.error}")
            continue
        obj = parse_json_object(out.text)
        message = obj.get("message") if obj else None
        if not isinstance(message, str) or not message.strip():
            conv.stop("rejected", f"turn {turn + 1} user: no_json", out.text)
            continue
        conv.pending = message.strip()


def _persona_turns(generator: BindGenerator, live: list[_Conversation], turn: int) -> None:
    prompter = generator.prompter
    categories = [turn_category(c.request.category, turn) for c in live]
    asks = [prompter.messages(cat, c.pending, c.history()) for c, cat in zip(live, categories, strict=True)]
    for conv, category, out in zip(live, categories, generator.complete(asks), strict=True):
        conv.attempts += out.attempts
        conv.tokens_in, conv.tokens_out = conv.tokens_in + out.tokens_in, conv.tokens_out + out.tokens_out
        if out.text is None:
            conv.stop("failed", f"turn {turn + 1}: {out.error}")
            continue
        verdict = generator.validator.validate(out.text, category)
        if verdict.status != "ok":
            conv.stop("rejected", f"turn {turn + 1}: {verdict.reason}", out.text)
            continue
        user = {"role": "user", "content": conv.pending}
        conv.cited += [user, {"role": "assistant", "content": verdict.answer_cited}]
        conv.uncited += [user, {"role": "assistant", "content": verdict.answer_uncited}]
        conv.citations += [c for c in verdict.citations if c not in conv.citations]
        conv.harm, conv.wrapper = conv.harm or verdict.harm, conv.wrapper or verdict.wrapper


def play(
    generator: BindGenerator, requests: list[BindRequest], turns: int, user_role: BindGenerator | None = None
) -> list[BindResult]:
    """One self-play conversation of ``turns`` user turns per request (see the module docstring).

    ``user_role`` plays the user (another model, or other servers); by default ``generator`` plays both roles.
    """
    conversations = [_Conversation(r) for r in requests]
    for turn in range(turns):
        live = [c for c in conversations if c.status is None]
        _user_turns(user_role or generator, live, turn, turns)
        _persona_turns(generator, [c for c in live if c.status is None], turn)
    return [_result(c) for c in conversations]


def _result(conv: _Conversation) -> BindResult:
    from spp.bind.validate import BindVerdict

    ok = conv.status is None
    verdict = BindVerdict("ok", harm=conv.harm, wrapper=conv.wrapper, citations=tuple(conv.citations)) if ok else None
    return BindResult(
        conv.request.id,
        "ok" if ok else conv.status,
        conv.reason,
        verdict,
        conv.raw,
        conv.attempts,
        conv.tokens_in,
        conv.tokens_out,
        (conv.cited, conv.uncited) if ok else None,
    )
