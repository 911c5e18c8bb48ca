"""The cluster tier: tests on a Spark standalone cluster (see conftest.py)."""
