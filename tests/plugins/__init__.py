"""Toy extensions, each one file that plugs in only through a registry (tests/test_registries.py)."""
