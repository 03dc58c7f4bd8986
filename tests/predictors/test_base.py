"""The Predictor base class: a failed fit never leaves a half-changed model behind."""

from __future__ import annotations

import numpy as np
import pytest

import nagen.spaces
from nagen.errors import InvalidArgumentError, InvalidTrainingDataError, NotFittedError
from nagen.predictors.base import Prediction, Predictor


class _Mean(Predictor):
    """Predicts the training mean; refuses values above 1000 (a check inside ``_fit``) and
    crashes on negative ones (a failure half-way through training)."""

    def _fit(self, archs, y):
        if (y > 1000).any():
            raise InvalidTrainingDataError("values above 1000")
        if (y < 0).any():
            raise RuntimeError("diverged")
        self.level = float(y.mean())

    def _predict(self, archs):
        return Prediction(np.full(len(archs), self.level), np.ones(len(archs)))


def test_a_refused_refit_keeps_the_previous_fit_and_a_crashed_one_unfits() -> None:
    sp = nagen.spaces.get("nb201")
    archs = sp.sample(4, 0)
    p = _Mean(sp).fit(archs, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(InvalidTrainingDataError):
        p.fit(archs, [2000.0, 3000.0, 4000.0, 5000.0])
    assert (p.y_mean, p.predict(archs).mean[0]) == (2.5, 2.5)  # the earlier fit, in its own units
    with pytest.raises(RuntimeError):
        p.fit(archs, [-1.0, 2.0, 3.0, 4.0])
    with pytest.raises(NotFittedError):
        p.predict(archs)
    with pytest.raises(InvalidTrainingDataError, match="values must be numbers"):
        p.fit(archs, ["a", "b", "c", "d"])
    with pytest.raises(InvalidTrainingDataError, match="got None"):
        p.fit(None, None)
    with pytest.raises(InvalidArgumentError, match="level must be a probability"):
        _Mean(sp).fit(archs, [1.0, 2.0, 3.0, 4.0]).predict(archs).interval(2.0)


def test_an_interval_needs_a_std() -> None:
    from nagen.errors import NoUncertaintyError
    from nagen.predictors.base import Prediction

    with pytest.raises(NoUncertaintyError, match="no std"):
        Prediction(np.zeros(3)).interval(0.9)


def test_get_names_the_options_a_predictor_takes() -> None:
    import nagen.predictors as P
    from nagen.errors import UnknownOptionError

    with pytest.raises(UnknownOptionError, match=r"takes no option\(s\) \['foo'\](; did you mean [^;]*)?; its options are \[.*'kernel'"):
        P.get("gp", "nb201", foo=1)
    with pytest.raises(TypeError):  # as Python's own check of a call
        P.get("gp", "nb201", foo=1)
