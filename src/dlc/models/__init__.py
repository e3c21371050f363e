"""Reference models shared by labs: plain nn.Modules with their shapes in the docstrings."""
