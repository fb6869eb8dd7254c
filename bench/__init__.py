"""Benchmarks of the server, run as modules: `.venv/bin/python -m bench.<name> --help`."""
