"""Side-by-side benchmarks; run with ``./run bench [--quick]`` (see bench/README.md)."""
