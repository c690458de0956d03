"""Subconscious memory (``typedis.memory``): memories injected before an LLM turn, extracted
after it, and the outcome reported back through the observation protocol.

``SubconsciousMemory(Model, agent_id, score_weights)`` wraps any chat flow that speaks plain
``list[dict]`` messages (``{"role": ..., "content": ...}``), with no LLM dependency:

- ``inject_context(messages)``: a ``ContextAssembler`` (``typedis.retrieval``) selects the
  agent's memories for the last user message (pull path) plus those that surface by
  themselves (push path); their text goes into the system message, one is added at the front
  when there is none. The records the push path brought get a pending recall proposal
  (``on_surfaced``).
- ``extract_memories(text, importance=...)``: the text split into sentences, those at least
  ``extraction_min_length`` characters long saved as memories of the agent.
- ``report_outcomes(result, outcome)``: ``on_context_used`` on the injected records.

Examples:
    >>> from typedis import Key, Model, Sorted, field, new_id
    >>> from typedis.retrieval import Text
    >>> class Recollection(Model, partition="agent_id"):
    ...     agent_id: Key[str]
    ...     id: Key[str] = field(default_factory=new_id)
    ...     content: Text[str]
    ...     importance: Sorted[float] = field(default=0.5)
    >>> sm = SubconsciousMemory(Recollection, "bot", {Recollection.importance: 1.0},
    ...                         fields=["content"], output_format="natural")
    >>> [m.content for m in sm.extract_memories("Ann drinks green tea. Ok.", importance=0.8)]
    ['Ann drinks green tea.']
    >>> messages, result = sm.inject_context([{"role": "user", "content": "what tea?"}])
    >>> print(messages[0]["content"])
    You are a helpful assistant.
    <BLANKLINE>
    <recalled-memories>
    1. content: Ann drinks green tea.
    </recalled-memories>
    >>> [o.outcome for o in sm.report_outcomes(result, "acted")]
    ['acted']
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .._errors import ModelError, QueryError
from ..retrieval._assembly import AssemblyResult, ContextAssembler, OutputFormat, TokenCounter
from ..retrieval._quality import is_model_class
from ._observation import (
    EFFECTS,
    Observed,
    Outcome,
    aon_context_used,
    aon_surfaced,
    on_context_used,
    on_surfaced,
)

if TYPE_CHECKING:
    from .._model import Model
    from ._composite import _Scored  # pyright: ignore[reportPrivateUsage]

M = TypeVar("M", bound="Model")


DEFAULT_EXTRACTION_MIN_LENGTH = 10
"""A sentence shorter than this (in characters, stripped) is not worth saving."""
DEFAULT_SYSTEM_PREAMBLE = "You are a helpful assistant."
"""The content of the system message added when the messages have none."""
DEFAULT_MAX_TOKENS = 4000
"""The token budget of the injected context (the seed's soft budget)."""
OPEN, CLOSE = "<recalled-memories>", "</recalled-memories>"

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_INJECTED = re.compile(r"\n*" + re.escape(OPEN) + r".*?" + re.escape(CLOSE), re.S)

Message = dict[str, Any]


def split_sentences(text: str, min_length: int = DEFAULT_EXTRACTION_MIN_LENGTH) -> list[str]:
    """The sentences of ``text`` (split after ``.``, ``!``, ``?``, ``…`` and at line breaks),
    stripped, at least ``min_length`` characters long, in order.

    Examples:
        >>> split_sentences("Ann likes tea. Ok! She lives in Oslo.\\nBye")
        ['Ann likes tea.', 'She lives in Oslo.']
    """
    parts = (part.strip() for part in _SENTENCE_END.split(text))
    return [part for part in parts if len(part) >= min_length]


def with_context(messages: Sequence[Message], context: str, preamble: str) -> list[Message]:
    """A copy of ``messages`` whose system message (the first, at index 0) ends with
    ``context`` between ``<recalled-memories>`` tags, replacing what an earlier injection left
    there; a system message ``preamble`` + context is put first when there is none. A system
    content given as a list of parts (``{"type": "text", "text": ...}``, as OpenAI's and
    Anthropic's SDKs take it) gets the context as a text part of its own. The caller's list
    and dicts are not changed.

    Examples:
        >>> messages = with_context([{"role": "user", "content": "hi"}], "likes tea", "Hi.")
        >>> print(messages[0]["content"])
        Hi.
        <BLANKLINE>
        <recalled-memories>
        likes tea
        </recalled-memories>
    """
    out = list(messages)
    block = f"{OPEN}\n{context}\n{CLOSE}"
    if out and out[0].get("role") == "system":
        content: object = out[0].get("content")
        if isinstance(content, list):
            parts = [
                p
                for p in cast(list[object], content)
                if not _INJECTED.fullmatch(_text_part(p) or "")
            ]
            out[0] = {**out[0], "content": [*parts, {"type": "text", "text": block}]}
        else:
            base = _INJECTED.sub("", str(content or "")).rstrip()
            out[0] = {**out[0], "content": f"{base}\n\n{block}" if base else block}
    else:
        out.insert(0, {"role": "system", "content": f"{preamble}\n\n{block}"})
    return out


def _text_part(part: object) -> str | None:
    """The text of a ``{"type": "text", "text": ...}`` content part, else None."""
    if isinstance(part, Mapping):
        entry = cast(Mapping[str, object], part)
        text = entry.get("text")
        if entry.get("type") == "text" and isinstance(text, str):
            return text
    return None


def _text_of(content: object) -> str:
    """A message content's text: a str, or the text parts of a list of parts, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (_text_part(p) for p in cast(list[object], content))
        return " ".join(t for t in texts if t is not None)
    return ""


def _last_user_text(messages: object) -> str | None:
    """The content of the last user message (the pull path's cue), or None."""
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise QueryError(f"inject_context(): messages must be a list of dicts, got {messages!r}")
    for message in reversed(cast(Sequence[object], messages)):
        if not isinstance(message, Mapping):
            raise QueryError(
                f"inject_context(): each message must be a dict with 'role' and 'content', "
                f"got {message!r}"
            )
        entry = cast(Mapping[str, object], message)
        text = _text_of(entry.get("content"))
        if entry.get("role") == "user" and text.strip():
            return text
    return None


class SubconsciousMemory(Generic[M]):
    """Memories of one agent injected into, extracted from and reported on around LLM turns.

    Args:
        model: the memory model: it has the fields named by ``content_field`` (a str, best a
            ``Text[str]`` so the last user message is searched, and an ``Embedding`` of it so
            that it is also found by meaning), ``importance_field`` (a number) and
            ``agent_id_field`` (a key; the model's partition when it has one), and every other
            field a default.
        agent_id: the agent whose memories are read and written.
        score_weights: field references to weights for the ``ContextAssembler`` (may be empty
            when the model has a ``Text`` or an ``Embedding`` field).
        max_items: at most this many memories injected per turn (default 10).
        max_tokens: the budget of the injected context in tokens (default 4000; None: none).
        extraction_min_length: the shortest sentence ``extract_memories`` saves (default 10).
        system_preamble: the system message added when there is none (default "You are a
            helpful assistant.").
        content_field: the field holding a memory's text (default "content").
        importance_field: the field holding its importance (default "importance").
        agent_id_field: the field holding its agent (default "agent_id").
        output_format: how the memories are rendered (default "natural"; see
            ``ContextAssembler``).
        fields: the fields rendered (default: ``content_field`` alone).
        token_counter: counts tokens for the budget (default ``approximate_tokens``).
        surfacing_threshold: the push path's threshold (``ContextAssembler``'s, default 0.5).

    Raises:
        ModelError: ``model`` lacks one of the three fields, or a bad option.
        QueryError: a bad assembler option or weight (the message names it).

    Examples:
        >>> SubconsciousMemory(Recollection, "bot", {}).extraction_min_length
        10
    """

    def __init__(
        self,
        model: type[M],
        agent_id: str,
        score_weights: Mapping[_Scored[M], float],
        *,
        max_items: int = 10,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        extraction_min_length: int = DEFAULT_EXTRACTION_MIN_LENGTH,
        system_preamble: str = DEFAULT_SYSTEM_PREAMBLE,
        content_field: str = "content",
        importance_field: str = "importance",
        agent_id_field: str = "agent_id",
        output_format: OutputFormat = "natural",
        fields: Sequence[str] | None = None,
        token_counter: TokenCounter | None = None,
        surfacing_threshold: float = 0.5,
    ) -> None:
        where = "SubconsciousMemory()"
        if not is_model_class(model):
            raise ModelError(f"{where}: model must be a model class, got {model!r}")
        for option, name in (
            ("content_field", content_field),
            ("importance_field", importance_field),
            ("agent_id_field", agent_id_field),
        ):
            if name not in model.model_fields:
                raise ModelError(f"{where}: {option} {name!r} is not a field of {model.__name__}")
        if not isinstance(cast(object, agent_id), str):
            raise ModelError(f"{where}: agent_id must be a str, got {agent_id!r}")
        minimum = cast(object, extraction_min_length)
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            raise ModelError(
                f"{where}: extraction_min_length must be an int, got {extraction_min_length!r}"
            )
        if minimum < 1:
            raise ModelError(
                f"{where}: extraction_min_length must be at least 1, got {extraction_min_length}"
            )
        self.assembler: ContextAssembler[M] = ContextAssembler(
            model,
            score_weights,
            max_items=max_items,
            max_tokens=max_tokens,
            output_format=output_format,
            fields=[content_field] if fields is None else fields,
            token_counter=token_counter,
            surfacing_threshold=surfacing_threshold,
        )
        self.model = model
        self.agent_id = agent_id
        self.extraction_min_length = extraction_min_length
        self.system_preamble = system_preamble
        self.content_field = content_field
        self.importance_field = importance_field
        self.agent_id_field = agent_id_field

    # ---- pre-turn ---------------------------------------------------------------------------

    def inject_context(
        self, messages: Sequence[Message]
    ) -> tuple[list[Message], AssemblyResult[M]]:
        """Pre-turn: the agent's memories for the last user message, put in the system message.

        The pull path searches the last user message's text; the push path adds what surfaces
        by itself (those records get a pending recall proposal, ``on_surfaced``). The context
        goes at the end of the system message at index 0 between ``<recalled-memories>``
        tags (replacing an earlier injection, so a conversation that keeps the returned list
        does not pile them up); a system message is added first when there is none.

        Args:
            messages: ``{"role": ..., "content": ...}`` dicts, oldest first.

        Returns:
            The messages to send (a new list; the caller's list and dicts are unchanged) and
            the ``AssemblyResult`` to report outcomes on. When nothing is found, the list holds
            the same messages as ``messages``.

        Raises:
            QueryError: ``messages`` is not a list of dicts.
            TypedisError: the server failed.
        """
        cue = _last_user_text(messages)
        result = self.assembler.assemble(cue, partition_filters=self._partition)
        if result.proactive:
            on_surfaced(result.proactive, reason="proactive")
        return self._injected(messages, result), result

    async def ainject_context(
        self, messages: Sequence[Message]
    ) -> tuple[list[Message], AssemblyResult[M]]:
        """``inject_context()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> messages, _ = asyncio.run(SubconsciousMemory(
            ...     Recollection, "nobody", {Recollection.importance: 1.0}
            ... ).ainject_context([{"role": "user", "content": "hi"}]))
            >>> messages
            [{'role': 'user', 'content': 'hi'}]
        """
        cue = _last_user_text(messages)
        result = await self.assembler.aassemble(cue, partition_filters=self._partition)
        if result.proactive:
            await aon_surfaced(result.proactive, reason="proactive")
        return self._injected(messages, result), result

    @property
    def _partition(self) -> dict[str, str]:
        return {self.agent_id_field: self.agent_id}

    def _injected(self, messages: Sequence[Message], result: AssemblyResult[M]) -> list[Message]:
        if not result.records:
            return list(messages)
        return with_context(messages, result.formatted, self.system_preamble)

    # ---- post-turn --------------------------------------------------------------------------

    def extract_memories(self, response_text: str, importance: float = 0.5) -> list[M]:
        """Post-turn: save each sentence of ``response_text`` at least
        ``extraction_min_length`` characters long as a memory of the agent.

        The split is a heuristic (sentence ends and line breaks); for an LLM-based extraction
        build the records yourself and ``save_many`` them.

        Args:
            response_text: the LLM's response.
            importance: the importance of every memory saved, in [0, 1] (default 0.5).

        Returns:
            The saved records, in the order of the text ([] when nothing qualifies).

        Raises:
            ModelError: ``response_text`` is not a str or ``importance`` not in [0, 1]
                (nothing written).
            ValidationError: the model refuses a value (nothing written).
            TypedisError: the server failed.
        """
        records = self._extracted(response_text, importance)
        if records:
            self.model.save_many(records)
        return records

    async def aextract_memories(self, response_text: str, importance: float = 0.5) -> list[M]:
        """``extract_memories()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> asyncio.run(SubconsciousMemory(Recollection, "bot", {}).aextract_memories("Ok."))
            []
        """
        records = self._extracted(response_text, importance)
        if records:
            await self.model.asave_many(records)
        return records

    def _extracted(self, text: object, importance: object) -> list[M]:
        where = "extract_memories()"
        if not isinstance(text, str):
            raise ModelError(f"{where}: response_text must be a str, got {text!r}")
        if (
            isinstance(importance, bool)
            or not isinstance(importance, int | float)
            or not math.isfinite(importance)
            or not 0.0 <= importance <= 1.0
        ):
            raise ModelError(f"{where}: importance must be a number in [0, 1], got {importance!r}")
        return [
            self.model(
                **{
                    self.agent_id_field: self.agent_id,
                    self.content_field: sentence,
                    self.importance_field: importance,
                }
            )
            for sentence in split_sentences(text, self.extraction_min_length)
        ]

    # ---- outcome ----------------------------------------------------------------------------

    def report_outcomes(
        self,
        assembly_result: AssemblyResult[M],
        outcome: Outcome = "acted",
        *,
        outcomes: Mapping[str, Outcome] | None = None,
    ) -> list[Observed]:
        """Outcome hook: how the agent used the injected memories, through ``on_context_used``
        (one atomic step per record: confidence update, cycle scaling, proposal resolved).

        Args:
            assembly_result: what ``inject_context`` returned.
            outcome: the outcome of every record: "acted" (default), "used", "dismissed",
                "deferred" or "contradicted".
            outcomes: ``record.redis_key`` -> outcome for the records that differ.

        Returns:
            What was done to each record, in the order of ``assembly_result.records``.

        Raises:
            ModelError: an unknown outcome, or ``outcomes`` names a record not injected
                (nothing sent).
            NotFound: a record was deleted since (the others are applied).
        """
        records, mapping = self._outcomes(assembly_result, outcome, outcomes)
        return on_context_used(records, mapping) if records else []

    async def areport_outcomes(
        self,
        assembly_result: AssemblyResult[M],
        outcome: Outcome = "acted",
        *,
        outcomes: Mapping[str, Outcome] | None = None,
    ) -> list[Observed]:
        """``report_outcomes()`` on the asyncio client.

        Examples:
            >>> import asyncio
            >>> sm = SubconsciousMemory(Recollection, "nobody", {Recollection.importance: 1.0})
            >>> _, result = sm.inject_context([])
            >>> asyncio.run(sm.areport_outcomes(result))
            []
        """
        records, mapping = self._outcomes(assembly_result, outcome, outcomes)
        return await aon_context_used(records, mapping) if records else []

    @staticmethod
    def _outcomes(
        result: object, outcome: object, outcomes: Mapping[str, Outcome] | None
    ) -> tuple[tuple[M, ...], dict[str, Outcome]]:
        where = "report_outcomes()"
        if not isinstance(result, AssemblyResult):
            raise ModelError(
                f"{where}: assembly_result must be what inject_context() returned, got {result!r}"
            )
        if outcome not in EFFECTS:
            raise ModelError(
                f"{where}: outcome must be one of {', '.join(map(repr, EFFECTS))}, got {outcome!r}"
            )
        records = cast("AssemblyResult[M]", result).records
        mapping: dict[str, Outcome] = {r.redis_key: cast(Outcome, outcome) for r in records}
        mapping.update(outcomes or {})
        return records, mapping
