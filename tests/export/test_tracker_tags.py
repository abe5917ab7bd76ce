"""Names a record gives (a case extra, a metric, a config key) become tracker tags; MLflow's file store keeps each
metric as a file named by its tag, so a hostile name must never become a path."""

from __future__ import annotations

import pytest

from benchbase.export.trackers.points import tag_part


@pytest.mark.parametrize(("name", "part"), [
    ("token_accuracy", "token_accuracy"),
    ("../../etc/passwd", ".._.._etc_passwd"),
    ("..", "__"),
    (".", "_"),
    ("", "_"),
    ("bleu score (%)", "bleu_score____"),
    ("x" * 300, "x" * 100),
])
def test_a_name_from_the_record_becomes_one_safe_tag_part(name, part):
    assert tag_part(name) == part
