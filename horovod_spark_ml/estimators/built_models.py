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
import collections
import threading

MOST_BYTES = 64 * 2 ** 20  # serialized models kept, in all

_lock = threading.Lock()
_kept = collections.OrderedDict()  # key -> (model, model bytes), the least recently used first


def built(key, build):
    """The ``(model, model_bytes)`` kept for ``key``, or ``build()``'s (then kept); ``key=None`` always builds."""
    if key is None:
        return build()
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    made = build()
    with _lock:
        _kept[key] = made
        while sum(len(model_bytes) for _, model_bytes in _kept.values()) > MOST_BYTES:
            _kept.popitem(last=False)
    return made
