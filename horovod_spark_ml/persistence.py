"""Save and load estimators and models: params as JSON, Keras models as ``.keras`` files.

The layout is Spark ML's own (a ``metadata`` JSON written by
``DefaultParamsWriter``) plus, where the stage holds a Keras model, a
``model.keras`` file beside it. Nothing is pickled, so loading a saved
pipeline never runs code from the file. Paths may be on any Hadoop file
system Spark can write (local, HDFS, DBFS, S3).

Example::

    >>> model.write().overwrite().save("/tmp/mlp")
    >>> MLPClassificationModel.load("/tmp/mlp").transform(df)
"""
import json

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from .stack import warn_if_keras_unsafe

_KERAS_FILE = "model.keras"
_PACKAGE = "horovod_spark_ml"


class KerasPersistence(MLWritable, MLReadable):
    """Mixin for stages that save their params as JSON and their Keras model (if any) as ``.keras``.

    A stage overrides ``_extra_metadata`` / ``_restore_extra`` for what it
    learned, and ``_keras_bytes`` / ``_restore_keras_bytes`` for its model.
    """

    _unsaved_params = ()  # params kept outside the JSON (e.g. a Keras model, saved as .keras)

    def write(self):
        return _Writer(self)

    @classmethod
    def read(cls):
        return _Reader(cls)

    def _extra_metadata(self):
        return {}

    def _restore_extra(self, extra):
        pass

    def _keras_bytes(self):
        return None

    def _restore_keras_bytes(self, data):
        pass


class _Writer(MLWriter):
    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path):
        stage = self.instance
        params = {p.name: v for p, v in stage._paramMap.items() if p.name not in stage._unsaved_params}
        json.dumps(params)  # fail here, not halfway through the save, if a value is not JSON
        DefaultParamsWriter.saveMetadata(stage, path, self.sc, extraMetadata=stage._extra_metadata(),
                                         paramMap=params)
        data = stage._keras_bytes()
        if data is not None:
            _write_bytes(self.sc, f"{path}/{_KERAS_FILE}", data)


class _Reader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path):
        metadata = DefaultParamsReader.loadMetadata(path, self.sc)
        stage = _class_named(metadata["class"], self.cls)()
        stage._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(stage, metadata)
        stage._restore_extra(metadata)
        if path_exists(self.sc, f"{path}/{_KERAS_FILE}"):
            warn_if_keras_unsafe(f"the Keras model saved at {path}")
            stage._restore_keras_bytes(_read_bytes(self.sc, f"{path}/{_KERAS_FILE}"))
        return stage


def _class_named(name, expected):
    """The class a metadata file names, if it is one of this package's stages and an ``expected``; anything else
    (a function, a class of another package) is refused before it is called.

    >>> _class_named("horovod_spark_ml.cli.main", KerasPersistence)
    Traceback (most recent call last):
    ValueError: the saved stage names horovod_spark_ml.cli.main, which is not a horovod_spark_ml stage ...
    """
    import importlib
    module, _, class_name = name.rpartition(".")
    found = None
    if module == _PACKAGE or module.startswith(_PACKAGE + "."):
        found = getattr(importlib.import_module(module), class_name, None)
    if not (isinstance(found, type) and issubclass(found, KerasPersistence) and issubclass(found, expected)):
        raise ValueError(f"the saved stage names {name}, which is not a {_PACKAGE} stage of the kind loaded "
                         f"({expected.__name__}); it is not loaded")
    return found


def _hadoop_path(sc, path):
    jvm_path = sc._jvm.org.apache.hadoop.fs.Path(path)
    return jvm_path, jvm_path.getFileSystem(sc._jsc.hadoopConfiguration())


def _write_bytes(sc, path, data):
    jvm_path, fs = _hadoop_path(sc, path)
    stream = fs.create(jvm_path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def path_exists(sc, path):
    """Whether ``path`` (a local path, or a URL of any Hadoop file system Spark can reach) exists."""
    jvm_path, fs = _hadoop_path(sc, path)
    return fs.exists(jvm_path)


def _read_bytes(sc, path):
    jvm_path, fs = _hadoop_path(sc, path)
    stream = fs.open(jvm_path)
    try:
        return bytes(sc._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()
