"""Helpers shared by the test directories (importable because ``tests`` is on pytest's pythonpath)."""
