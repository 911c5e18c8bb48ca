"""Keras models built on the driver for fits, kept for the next fit that would build the very same one.

The model an MLP, CNN, autoencoder or RBM estimator trains is a function of
its params (its seed among them) and of the widths its input checks found:
the build is seeded, so its initial weights are too. A refit, each fold of a
``CrossValidator`` after the first, or a loop of fits would build it again:
for the demo's MLP that is 0.12 s of each fit on the driver (0.07 s to build
it, 0.05 s to serialize it). So the last models built, up to
:data:`MOST_BYTES` of them serialized, are handed out again. A model handed
out is only read on the driver (its layers, widths and bytes); it is never
trained there. Estimators whose model depends on more than that (a user's
Keras model, a DBN's pretraining on the data, an LSTM's sequence shape) pass
no key and build every time.

Example::

    >>> model, model_bytes = built(key, build)   # build() -> (model, model_bytes), called unless key is kept
"""
from ..memo import Memo

MOST_BYTES = 64 * 2 ** 20  # serialized models kept, in all


def _over_bound(models):
    return sum(len(model_bytes) for _, model_bytes in models) > MOST_BYTES


_kept = Memo(full=_over_bound)  # key -> (model, model bytes)


def built(key, build):
    """The ``(model, model_bytes)`` kept for ``key``, or ``build()``'s (then kept); ``key=None`` always builds."""
    return build() if key is None else _kept.get(key, build)
