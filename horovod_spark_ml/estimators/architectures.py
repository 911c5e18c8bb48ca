"""Architectures as plain functions: a few arguments in, an uncompiled Keras model out.

Estimators choose and configure these; they hold no layer code themselves.

Layers have stable names (``conv1`` .. ``conv5``, ``fc6``, ``fc7`` for AlexNet),
so a fitted model can output any of them (``setOutputLayer("fc7")``).

Example::

    >>> model = build_mlp(64, [64, 32], 10, dropout=0.1)
    >>> model.output_shape
    (None, 10)
    >>> build_alexnet(10).count_params()           # the 227x227x3 original, 10 classes
    58322314
"""
import keras
from keras import layers


def build_mlp(input_dim, hidden_layers, output_dim, *, activation="relu", dropout=0.0, l1=0.0, l2=0.0,
              batch_norm=False, output_activation=None):
    """A multilayer perceptron; with ``output_activation=None`` it outputs raw scores (logits)."""
    regularizer = _regularizer(l1, l2)
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


ALEXNET_SIZE = 227


def build_alexnet(num_classes, input_shape=(ALEXNET_SIZE, ALEXNET_SIZE, 3), *, width=None, dropout=0.5, l1=0.0,
                  l2=0.0, batch_norm=False):
    """AlexNet (Krizhevsky et al. 2012): five convolutions and three dense layers, raw scores out.

    At 227x227 this is the original: 96/256/384/384/256 filters of 11/5/3/3/3
    pixels (the first with stride 4), max pooling after conv1, conv2 and conv5,
    two dense layers of 4096 with dropout. At a smaller ``input_shape`` the same
    layout is scaled: kernel sizes and the first stride shrink with the image,
    and filter and unit counts are multiplied by ``width`` (default: the image
    size over 227, at least 1/8), so a 32x32 AlexNet trains on a laptop.
    Batch normalisation, when asked, replaces the original's local response
    normalisation.
    """
    scale = min(input_shape[0], input_shape[1]) / ALEXNET_SIZE
    width = width if width is not None else min(1.0, max(scale, 0.125))
    regularizer = _regularizer(l1, l2)

    def units(n):
        return max(8, round(n * width))

    def kernel(n):
        return max(3, round(n * min(1.0, scale)) | 1)

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    convs = [(96, 11, max(1, round(4 * min(1.0, scale))), True), (256, 5, 1, True), (384, 3, 1, False),
             (384, 3, 1, False), (256, 3, 1, True)]
    for i, (filters, size, stride, pool) in enumerate(convs, start=1):
        padding = "valid" if (i == 1 and scale >= 1) else "same"
        x = layers.Conv2D(units(filters), kernel(size), strides=stride, padding=padding,
                          kernel_regularizer=regularizer, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"batch_norm{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        if pool:
            x = layers.MaxPooling2D(3, strides=2, padding="valid" if scale >= 1 else "same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc6", "fc7"):
        x = layers.Dense(units(4096), activation="relu", kernel_regularizer=regularizer, name=name)(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{name}")(x)
    outputs = layers.Dense(num_classes, kernel_regularizer=regularizer, name="fc8")(x)
    return keras.Model(inputs, outputs, name="alexnet")


def build_lenet(num_classes, input_shape=(32, 32, 1), *, dropout=0.0, l1=0.0, l2=0.0, batch_norm=False):
    """LeNet-5 (LeCun et al. 1998) for small images: two 5x5 convolutions (6, 16 filters), dense 120 and 84.

    Convolutions keep their input's size ("same" padding), so images as small
    as 8x8 fit; the output is raw scores.
    """
    regularizer = _regularizer(l1, l2)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, filters in enumerate((6, 16), start=1):
        x = layers.Conv2D(filters, 5, padding="same", kernel_regularizer=regularizer, name=f"conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"batch_norm{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for name, size in (("fc3", 120), ("fc4", 84)):
        x = layers.Dense(size, activation="relu", kernel_regularizer=regularizer, name=name)(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{name}")(x)
    outputs = layers.Dense(num_classes, kernel_regularizer=regularizer, name="output")(x)
    return keras.Model(inputs, outputs, name="lenet")


def _regularizer(l1, l2):
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


RNN_CELLS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}


def build_rnn(steps, width, units, output_dim, *, cell="lstm", bidirectional=False, dropout=0.0,
              recurrent_dropout=0.0, per_step=False, output_activation=None):
    """Stacked recurrent layers over padded sequences, with two inputs: ``sequence`` and ``length``.

    ``sequence`` is ``(steps, width)``, zero-padded after each row's ``length``
    steps; the padded steps are masked in every recurrent layer, so they change
    neither the outputs nor the loss. The output is ``output_dim`` values for the
    whole sequence, or for each step with ``per_step`` (sequence tagging).
    """
    from .layers import LengthMask
    sequence = keras.Input((steps, width), name="sequence")
    length = keras.Input((), dtype="int32", name="length")
    mask = LengthMask(steps, name="mask")(length)
    x = sequence
    for i, size in enumerate(units, start=1):
        recurrent = RNN_CELLS[cell](size, return_sequences=per_step or i < len(units), dropout=dropout,
                                    recurrent_dropout=recurrent_dropout, name=f"{cell}_{i}")
        if bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"bidirectional_{i}")
        x = recurrent(x, mask=mask)
    outputs = layers.Dense(output_dim, activation=output_activation, name="output")(x)
    return keras.Model({"sequence": sequence, "length": length}, outputs, name=f"{cell}_net")


def build_autoencoder(input_dim, encoder_layers, *, activation="relu", tied=False, denoising=0.0, sparsity=0.0):
    """A dense autoencoder with two outputs, ``code`` and ``reconstruction`` (linear, the input's size).

    ``tied`` decoders reuse the transposed encoder kernels
    (:class:`.layers.TiedAutoencoder`). ``denoising`` adds Gaussian noise of
    that standard deviation to the input while training; ``sparsity`` is an
    L1 penalty on the code.
    """
    from .layers import TiedAutoencoder
    inputs = keras.Input((input_dim,), name="features")
    x = layers.GaussianNoise(denoising, name="noise")(inputs) if denoising else inputs
    if tied:
        code, reconstruction = TiedAutoencoder(encoder_layers, activation, name="tied_autoencoder")(x)
    else:
        code = x
        for i, units in enumerate(encoder_layers, start=1):
            code = layers.Dense(units, activation=activation, name=f"encoder_{i}")(code)
        reconstruction = code
        for i, units in enumerate([*reversed(encoder_layers[:-1]), input_dim], start=1):
            last = i == len(encoder_layers)
            reconstruction = layers.Dense(units, activation=None if last else activation,
                                          name=f"decoder_{i}")(reconstruction)
    code = layers.ActivityRegularization(l1=sparsity, name="code")(code)
    reconstruction = layers.Identity(name="reconstruction")(reconstruction)
    return keras.Model(inputs, {"code": code, "reconstruction": reconstruction}, name="autoencoder")
