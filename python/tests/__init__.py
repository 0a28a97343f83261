"""Tests of samplersearch_py (run: python3 -m unittest discover -s python/tests -t python)."""
