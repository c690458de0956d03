"""The retrieval evaluation harness: ``python -m typedis.eval`` (docs/retrieval.md)."""

from ._corpus import Corpus, Kind, Question, Turn, content_words
from ._generate import generate, generate_many
from ._locomo import load_locomo

__all__ = [
    "Corpus",
    "Kind",
    "Question",
    "Turn",
    "content_words",
    "generate",
    "generate_many",
    "load_locomo",
]
