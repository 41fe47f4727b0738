from __future__ import annotations

import pytest

from qgap_assets.config import WalkForward
from qgap_assets.errors import InputValidationError
from qgap_assets.research.walkforward import make_folds


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
@pytest.mark.parametrize("purge,embargo", [(0, 0), (2, 1), (3, 4)])
def test_no_train_session_in_purge_or_embargo_zone(scheme: str, purge: int, embargo: int) -> None:
    cfg = WalkForward(folds=5, scheme=scheme, purge_sessions=purge, embargo_sessions=embargo,
                      rolling_train_sessions=15)
    folds = make_folds(60, cfg)
    assert len(folds) == 5
    for k, f in enumerate(folds):
        test = set(f.test.tolist())
        train = set(f.train.tolist())
        assert not train & test
        assert max(train) < min(test)
        purge_zone = set(range(min(test) - purge, min(test)))
        assert not train & purge_zone
        for prev in folds[:k]:
            end = int(prev.test[-1])
            assert not train & set(range(end + 1, end + 1 + embargo))
    tests = [t for f in folds for t in f.test.tolist()]
    assert tests == sorted(set(tests))  # test blocks are disjoint and ordered


def test_too_few_sessions_is_a_named_input_error() -> None:
    with pytest.raises(InputValidationError, match="walk_forward.folds"):
        make_folds(3, WalkForward(folds=5))
