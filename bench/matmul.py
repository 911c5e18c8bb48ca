"""The compute baseline: NumPy float32 matrix multiply FLOP/s on this machine's cores, in its own process so its
BLAS thread count is set before NumPy starts. Prints one JSON object.

    python -m bench.matmul --threads 2
"""
import argparse
import json
import os
import statistics
import time

SIZE = 2048
MULTIPLIES = 10  # per timed sample


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    import numpy as np
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((SIZE, SIZE), dtype=np.float32) for _ in range(2))
    a @ b  # warm-up
    seconds = []  # per multiply, each over a second or so, as the epochs it is compared with last seconds
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(MULTIPLIES):
            a @ b
        seconds.append((time.perf_counter() - started) / MULTIPLIES)
    print(json.dumps({"size": SIZE, "seconds": seconds, "flops": 2 * SIZE ** 3 / statistics.median(seconds)}))


if __name__ == "__main__":
    main()
