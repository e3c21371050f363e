"""Exercises: the student version of a lab, and the grading of a student's answers.

- :mod:`dlc.exercise.regions`: the solution regions marked in a lab's source.
- :mod:`dlc.exercise.tasks`: a lab's ``TASKS`` and the tiers of grading.
- :mod:`dlc.exercise.load`: reading the names a student's file or notebook defines.
- :mod:`dlc.exercise.grade`: ``dlc check`` (worker processes with time limits, reports,
  Gradescope's results.json) and :func:`check` for notebooks.
- :mod:`dlc.exercise.handout`: ``dlc exercise``, the student files.
"""

from dlc.exercise.tasks import Task


def check(lab_id: str, task: str | None = None, **kwargs):
    """Grade, in a notebook, the tasks of ``lab_id`` that the notebook defines."""
    from dlc.exercise.grade import check as _check

    return _check(lab_id, task, **kwargs)


__all__ = ["Task", "check"]
