"""examples/agent_memory.py, run as `typedis demo memory` runs it: each step shows what it says."""

from __future__ import annotations

import pytest

import typedis
from typedis.__main__ import main


def test_the_agent_memory_example_runs_each_step(
    conn: typedis.Connection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDIS_URL", conn.url)  # the example connects on its own: same server
    assert main(["demo", "memory"]) == 0
    out = capsys.readouterr().out
    # Injection: nothing before the first turn; the search of a later message finds the note.
    assert (
        "[demo-ann] user: Hi, I'm Ann. I only drink green tea, never coffee.\n  injected (0): []"
        in out
    )
    assert (
        "[demo-ann] user: Which tea should I order at the cafe?\n"
        "  injected (1): ['Noted: Ann drinks green tea and never coffee.']"
    ) in out
    assert (
        "[demo-bob] user: Which table tonight?\n  injected (1): ['Booked: Bob likes tables" in out
    )
    # Extraction: sentences of at least 10 characters.
    assert "  extracted: ['Order a sencha.', 'It is a green tea.']" in out
    # Each user's injections and recall stay in their partition.
    bob_words = ("Bob", "harbour", "table")
    for block in out.split("[demo-")[1:]:
        if block.startswith("ann]"):
            assert not any(w in block.split("  assistant:")[0] for w in bob_words)
    assert "session ann-1 replayed: 6 messages" in out
    # Facts as of two dates.
    assert "where did Ann live in February? -> ['Oslo']" in out
    assert "where did Ann live in April? -> ['Bergen']" in out
    # Lifecycle: the notes used and trusted are promoted and kept; the idle ones forgotten.
    assert (
        "tick in 10 minutes -> promoted 2: ['It is a green tea.', "
        "'Noted: Ann drinks green tea and never coffee.']"
    ) in out
    assert "tick in 30 days -> forgotten 3; left: ['It is a green tea.', 'Noted: Ann" in out
    # Erasure of Bob: everything, and nothing of Ann's.
    assert "Bob's export before: 1 blocks, 2 episodes, 1 facts, 2 notes" in out
    assert "Bob's export after: 0 blocks, 0 episodes, 0 facts, 0 notes" in out
    assert "keys on the server named for demo-bob: 0" in out
    assert "Ann's memory intact: 1 blocks, 4 episodes, 2 facts, 2 notes" in out
    assert out.rstrip().endswith("done: the demo's data is erased")
