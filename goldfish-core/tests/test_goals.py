"""A goal's number, read from its words, and a best result set against it."""

from __future__ import annotations

import pytest
from goldfish.goals import against_goal, goal_target


@pytest.mark.parametrize(("goal", "metric", "value", "direction", "text"), [
    # percentages become fractions for a metric between 0 and 1, stay as-is for a 0-100 one
    ("a digits classifier above 98% on the frozen test split", "accuracy", 0.926, "max",
     "accuracy 0.926 vs goal 0.98: 0.054 short"),
    ("an accuracy of at least 92 percent", "accuracy", 0.93, "max",
     "accuracy 0.93 vs goal 0.92: met, 0.01 above"),
    ("above 98%", "accuracy", 92.6, "max", "accuracy 92.6 vs goal 98: 5.4 short"),
    # losses: "below" goals, short and met
    ("validation loss below 0.2", "loss", 0.25, "min", "loss 0.25 vs goal below 0.2: 0.05 short"),
    ("get the loss under 0.3", "loss", 0.25, "min", "loss 0.25 vs goal below 0.3: met, 0.05 below"),
    # the number near a comparison, not the other numbers in the sentence
    ("classify 8x8 digit-like glyphs; beat 90% test accuracy", "accuracy", 0.926, "max",
     "accuracy 0.926 vs goal 0.9: met, 0.026 above"),
    ("reach 0.95 F1 within 10 epochs", "f1", 0.9, "max", "f1 0.9 vs goal 0.95: 0.05 short"),
    ("accuracy >= 0.97", "accuracy", 0.97, "max", "accuracy 0.97 vs goal 0.97: met exactly"),
    ("accuracy 0.95 on the test split", "accuracy", 0.93, "max",
     "accuracy 0.93 vs goal 0.95: 0.02 short"),
])
def test_a_best_result_against_the_goal(goal: str, metric: str, value: float, direction: str,
                                        text: str) -> None:
    result = against_goal(goal, metric, value, direction)
    assert result is not None and result["text"] == text
    assert result["met"] == ("short" not in text)


@pytest.mark.parametrize("goal", [
    "", "a good tokenizer", "train for 10 epochs on v2 data", "top-5 classes of 8x8 glyphs",
])
def test_a_goal_with_no_number_has_no_target(goal: str) -> None:
    assert goal_target(goal, "accuracy") is None
    assert against_goal(goal, "accuracy", 0.9, "max") is None


def test_a_goal_about_the_other_direction_is_not_applied() -> None:
    # "loss below 0.2" says nothing about an accuracy that should rise
    assert against_goal("loss below 0.2", "accuracy", 0.9, "max") is None
    assert against_goal("beat 0.9", "accuracy", None, "max") is None
