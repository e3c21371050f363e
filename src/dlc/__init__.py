"""dlc: the deep-learning course as software.

Importing the package is cheap on purpose (no torch): the command line lists labs and
prints help without loading PyTorch. Sub-packages import what they need.
"""

import os as _os

# torch's CPU threads meet at the end of every parallel operation; by default OpenMP
# makes the early ones spin there. When other programs use the cores (a laptop with a
# browser, another lab, a second notebook), the spinning threads take the cores from the
# ones they wait for, and a lab slows down many times (measured: benchmarks/
# bench_busy_machine.py). Waiting threads that sleep cost nothing measurable on a quiet
# machine. It must be chosen before torch loads its OpenMP runtime, so here; a value the
# user set is kept, and it has no effect in a process that imported torch before dlc.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
