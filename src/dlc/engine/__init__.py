"""The engine: run folders and contexts, devices and seeds, and the training loop."""

from dlc.engine.context import RunContext, pick_device, seed_everything

__all__ = ["RunContext", "pick_device", "seed_everything"]
