"""One-line deployment checks for a user's pytest suite.

    def test_deploys_to_loihi():
        snnc.testing.assert_deploys(model, "loihi", x)

fails (``AssertionError``) with the divergence report when the target's artifact does not reproduce
the reference interpreter under the target's numerics bit for bit (or drifts more than
``max_drift`` from the float model, when given).
"""

from __future__ import annotations

from .verification import Report, verify


class DeploymentMismatch(AssertionError):
    """A target's artifact does not reproduce the reference; ``report`` holds the details."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__("\n" + report.summary())


def assert_deploys(model, target, inputs=None, **kwargs) -> Report:
    """Compile ``model`` for ``target``, simulate it on ``inputs`` ``[T, N, *input_shape]`` and require
    bit-exact equality with the reference interpreter; ``kwargs`` as :func:`snnc.verify` (``artifact=``,
    ``max_drift=``, ``window=``...). Returns the report when it passes."""
    __tracebackhide__ = True  # pytest shows the report, not this frame
    report = verify(model, target, inputs=inputs, **kwargs)
    if not report.ok:
        raise DeploymentMismatch(report)
    return report


__all__ = ["assert_deploys", "DeploymentMismatch"]
