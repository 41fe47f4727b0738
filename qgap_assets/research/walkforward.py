"""Walk-forward folds over sessions with purge and embargo (López de Prado, AFML ch. 7).

Sessions (trading dates) are split into ``folds + 1`` contiguous blocks; fold k tests on block
k+1 and trains on what came before it (expanding) or on the last ``rolling_train_sessions``
sessions before it (rolling). Then:
- purge: the ``purge_sessions`` sessions right before the test block are removed from training,
  because a label computed there could overlap the test period;
- embargo: the ``embargo_sessions`` sessions right after every earlier test block are removed
  from training, because they are serially correlated with what was tested.
The TSMOM label horizon ends at the session close (nothing is held overnight), so a purge of 0
is exact for this strategy; it stays configurable for strategies that hold longer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qgap_assets.config import WalkForward
from qgap_assets.errors import InputValidationError


@dataclass(frozen=True)
class Fold:
    index: int
    train: np.ndarray  # positions into the sorted session dates
    test: np.ndarray
    purged: np.ndarray
    embargoed: np.ndarray


def make_folds(n_sessions: int, cfg: WalkForward) -> list[Fold]:
    blocks = np.array_split(np.arange(n_sessions), cfg.folds + 1)
    if n_sessions < cfg.folds + 1 or any(b.size == 0 for b in blocks):
        raise InputValidationError(
            f"walk-forward needs at least folds+1 = {cfg.folds + 1} sessions; the data has "
            f"{n_sessions} (rule 'walk_forward.folds')")
    folds: list[Fold] = []
    embargo_zone: set[int] = set()
    for k in range(cfg.folds):
        test = blocks[k + 1]
        start = int(test[0])
        if cfg.scheme == "expanding":
            candidates = np.arange(0, start)
        else:
            candidates = np.arange(max(0, start - cfg.rolling_train_sessions), start)
        purged = candidates[candidates >= start - cfg.purge_sessions] if cfg.purge_sessions else \
            np.zeros(0, dtype=np.int64)
        embargoed = np.array(sorted(embargo_zone & set(candidates.tolist())), dtype=np.int64)
        drop = set(purged.tolist()) | set(embargoed.tolist())
        train = np.array([i for i in candidates.tolist() if i not in drop], dtype=np.int64)
        folds.append(Fold(k, train, test, purged.astype(np.int64), embargoed))
        end = int(test[-1])
        embargo_zone.update(range(end + 1, min(n_sessions, end + 1 + cfg.embargo_sessions)))
    return folds
