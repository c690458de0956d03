"""A loader for the public LoCoMo file format (``locomo10.json``), read from a file you give.

The file is a JSON list of conversations: ``sample_id``, ``conversation`` (``speaker_a``,
``speaker_b``, ``session_<n>`` lists of ``{speaker, dia_id, text}`` and
``session_<n>_date_time`` such as ``"1:56 pm on 8 May, 2023"``) and ``qa`` (``question``,
``answer``, ``evidence``: dia ids such as ``"D1:3"``, ``category``: 1 single-hop, 2 temporal,
3 open-domain, 4 multi-hop, 5 adversarial, whose answer is not in the conversation). Each
conversation becomes one user (tenant); category 5 questions become ``absent`` ones, the others
``exact`` (LoCoMo does not say how a question is worded against its evidence).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from ._corpus import Corpus, Question, Turn

_SESSION = re.compile(r"session_(\d+)")


def _when(text: object) -> datetime:
    try:
        return datetime.strptime(str(text).strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)


def load_locomo(path: str | Path) -> Corpus:
    """The conversations and questions of a LoCoMo JSON file.

    Args:
        path: the file (nothing is downloaded).

    Returns:
        A corpus: one user per conversation (its ``sample_id``), one turn per dialogue line
        (its ``dia_id``), sessions as the file numbers them.

    Raises:
        ValueError: the file is not in the LoCoMo format (the message says where).
        OSError: the file cannot be read.

    Examples:
        >>> import json, tempfile
        >>> conv = {"speaker_a": "Ann", "speaker_b": "Bo",
        ...         "session_1_date_time": "1:56 pm on 8 May, 2023",
        ...         "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a cat."}]}
        >>> qa = [{"question": "What pet?", "answer": "a cat", "evidence": ["D1:1"], "category": 1}]
        >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        ...     json.dump([{"sample_id": "c1", "conversation": conv, "qa": qa}], f)
        >>> corpus = load_locomo(f.name)
        >>> corpus.turns[0].text, sorted(corpus.questions[0].answers)
        ('I adopted a cat.', ['D1:1'])
    """
    data: object = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"load_locomo(): {path} holds a {type(data).__name__}, not a list")
    turns: list[Turn] = []
    questions: list[Question] = []
    for n, item in enumerate(cast(list[object], data)):
        try:
            entry = cast(dict[str, Any], item)
            user = str(entry["sample_id"])
            conv = cast(dict[str, Any], entry["conversation"])
            qa = cast(list[dict[str, Any]], entry.get("qa", []))
        except (KeyError, TypeError) as e:
            raise ValueError(f"load_locomo(): conversation #{n} lacks {e}") from e
        known: set[str] = set()
        for key in sorted(conv, key=lambda k: (len(k), k)):
            match = _SESSION.fullmatch(key)
            if match is None:
                continue
            start = _when(conv.get(f"{key}_date_time"))
            for i, line in enumerate(cast(list[dict[str, Any]], conv[key])):
                try:
                    turn = Turn(
                        user,
                        str(line["dia_id"]),
                        key,
                        start + timedelta(seconds=i),
                        str(line["speaker"]),
                        str(line["text"]),
                    )
                except (KeyError, TypeError) as e:
                    raise ValueError(f"load_locomo(): {user} {key} line {i} lacks {e}") from e
                turns.append(turn)
                known.add(turn.id)
        for i, q in enumerate(qa):
            adversarial = q.get("category") == 5
            evidence = frozenset(str(e) for e in cast(list[Any], q.get("evidence", []))) & known
            if not adversarial and not evidence:
                continue  # evidence naming no line of the file: nothing to score against
            questions.append(
                Question(
                    f"{user}:q{i}",
                    user,
                    "absent" if adversarial else "exact",
                    str(q.get("question", "")),
                    frozenset() if adversarial else evidence,
                    value=str(q.get("answer", "")),
                )
            )
    return Corpus(tuple(turns), tuple(questions))
