"""dlc: the deep-learning course as software.

Importing the package is cheap on purpose (no torch): the command line lists labs and
prints help without loading PyTorch. Sub-packages import what they need.
"""

__version__ = "0.1.0"


def check(lab_id: str, task: str | None = None, **kwargs):
    """Grade, in a notebook, your answers to a lab's tasks: ``from dlc import check;
    check("perceptron")`` (see :mod:`dlc.exercise`)."""
    from dlc.exercise.grade import check as _check

    return _check(lab_id, task, **kwargs)
