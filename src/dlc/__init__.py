"""dlc: the deep-learning course as software.

Importing the package is cheap on purpose (no torch): the command line lists labs and
prints help without loading PyTorch. Sub-packages import what they need.
"""

__version__ = "0.1.0"
