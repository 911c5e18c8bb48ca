"""Serving: a fitted model's batched ``transform`` in the Python workers (``inference``)."""
