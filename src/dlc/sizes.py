"""The one table of data sizes: what ``--tiny``, the default and ``--full`` mean.

A lab whose Config has the fields ``train_size`` and ``test_size`` gets them from the
row of its run's size; the EE-559 prologue reads the same rows (its original sizes).
None means the whole data set.
"""

SIZE_PRESETS: dict[str, dict[str, int | None]] = {
    "tiny": {"train_size": 500, "test_size": 100},
    "default": {"train_size": 1000, "test_size": 1000},
    "full": {"train_size": None, "test_size": None},
}
SIZES = tuple(SIZE_PRESETS)
