"""A progress bar for a lab's own long loops (rounds, sweeps, brackets): tqdm, drawn as
a widget in a notebook and as text in a terminal, silent when the run is quiet."""

from __future__ import annotations

import warnings


def progress_bar(ctx, total: int, desc: str = "", unit: str = "step"):
    """A tqdm bar of ``total`` units for the run ``ctx`` (none drawn with --quiet)."""
    with warnings.catch_warnings():  # tqdm.auto warns when ipywidgets is missing
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    quiet = ctx is None or ctx.quiet
    return tqdm(total=total, desc=desc or None, unit=unit, disable=quiet, dynamic_ncols=True, leave=False)
