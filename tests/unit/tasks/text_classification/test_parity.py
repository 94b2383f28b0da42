"""text-classification's parity check: the numbers and verdict, on toy logits."""

from __future__ import annotations

import numpy as np
import pytest

from ml_ci.tasks.text_classification.export import compare

REF = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.5], [0.2, 0.1]], dtype=np.float32)


def test_identical_logits_pass() -> None:
    p = compare(REF, REF.copy(), [0, 1, 0, 1], min_agreement=0.995, max_accuracy_drop=0.01)
    assert (p.agreement, p.max_abs_logit_diff, p.accuracy_pytorch, p.accuracy_drop) == (1.0, 0.0, 0.75, 0.0)
    assert p.passed and p.record()["passed"] is True


def test_one_flip_in_four_fails_agreement_and_accuracy() -> None:
    exported = REF.copy()
    exported[2] = [0.5, 1.0]  # was class 0 (correct), now class 1
    p = compare(REF, exported, [0, 1, 0, 1], min_agreement=0.995, max_accuracy_drop=0.01)
    assert p.agreement == 0.75 and p.max_abs_logit_diff == pytest.approx(0.5)
    assert p.accuracy_drop == pytest.approx(0.25)
    assert p.failures == [
        "the exported model agrees with PyTorch on 75.00% of 4 validation examples; package.min_agreement is 99.50%",
        "accuracy drops by 0.2500 (0.7500 in PyTorch, 0.5000 exported); package.max_accuracy_drop is 0.01",
    ]


def test_a_flip_that_fixes_a_mistake_is_not_an_accuracy_drop() -> None:
    exported = REF.copy()
    exported[3] = [0.1, 0.2]  # was class 0 (wrong), now class 1 (right)
    p = compare(REF, exported, [0, 1, 0, 1], min_agreement=0.5, max_accuracy_drop=0.0)
    assert p.accuracy_drop == pytest.approx(-0.25) and p.passed


def test_without_gold_labels_only_agreement_counts() -> None:
    p = compare(REF, REF, None, min_agreement=1.0, max_accuracy_drop=0.0)
    assert p.accuracy_pytorch is None and p.passed


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="cannot be compared"):
        compare(REF, REF[:2], None, min_agreement=1.0, max_accuracy_drop=0.0)


def test_the_line_export_prints() -> None:
    exported = REF.copy()
    exported[2] = [0.5, 1.0]
    p = compare(REF, exported, [0, 1, 0, 1], min_agreement=0.5, max_accuracy_drop=1.0)
    assert (
        p.summary() == "parity on 4 validation examples: agreement 75.00%, max |logit diff| 5.00e-01, accuracy 0.7500 -> 0.5000"
    )
    assert compare(REF, REF, None, min_agreement=1.0, max_accuracy_drop=0.0).summary().endswith("max |logit diff| 0.00e+00")
