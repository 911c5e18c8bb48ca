"""Architectures as plain functions: a few arguments in, an uncompiled Keras model out.

Estimators choose and configure these; they hold no layer code themselves.

Example::

    >>> model = build_mlp(64, [64, 32], 10, dropout=0.1)
    >>> model.output_shape
    (None, 10)
"""
import keras
from keras import layers


def build_mlp(input_dim, hidden_layers, output_dim, *, activation="relu", dropout=0.0, l1=0.0, l2=0.0,
              batch_norm=False, output_activation=None):
    """A multilayer perceptron; with ``output_activation=None`` it outputs raw scores (logits)."""
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    inputs = keras.Input((input_dim,), name="features")
    x = inputs
    for i, units in enumerate(hidden_layers, start=1):
        x = layers.Dense(units, kernel_regularizer=regularizer, name=f"dense_{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"batch_norm_{i}")(x)
        x = layers.Activation(activation, name=f"activation_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = layers.Dense(output_dim, activation=output_activation, kernel_regularizer=regularizer,
                           name="output")(x)
    return keras.Model(inputs, outputs, name="mlp")
