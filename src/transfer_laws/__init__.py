"""Scaling laws for transfer, reproduced end to end on real text."""

__version__ = "0.1.0"
