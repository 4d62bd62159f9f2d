"""The benchmark's own arithmetic (its numbers go into the README)."""

from __future__ import annotations

from bench.classifier.__main__ import confusion, summary


def test_confusion_matrix_rows_are_labels_and_columns_verdicts() -> None:
    results = [("silent", "silent"), ("speech", "speech"), ("speech", "quiet"), ("noisy", "noisy")]
    table = confusion(results).splitlines()
    assert table[0].startswith("| label \\ verdict | silent | open-line | noisy | quiet | speech |")
    speech = next(row for row in table if row.startswith("| speech |"))
    assert speech.endswith("| 1/2 |")
    assert speech.split("|")[5].strip() == "1" and speech.split("|")[6].strip() == "1"
    assert not any(row.startswith("| key |") for row in table)  # no clips of that label
    line = summary("offline", results)
    assert line.startswith("offline: 3/4 correct (75.0 %)")
    assert line.endswith("speech taken for silent or noisy: 0")
    assert summary("x", [("speech", "noisy")]).endswith("silent or noisy: 1")
