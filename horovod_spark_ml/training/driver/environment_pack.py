"""Pack this Python environment for executors that do not share it: ``spark.archives`` and ``PYSPARK_PYTHON``.

A ``venv-pack`` archive in ``.tar.gz`` form: Spark unpacks that with the
system's ``tar``, which keeps the interpreter's links and the files' modes.
Spark 3.5 unpacks a plain ``.tar`` and a ``.zip`` in Java instead, and loses
both (SPARK-38632): ``./environment/bin/python`` is then not there, or not
executable. As with any venv-pack archive, every executor needs the base
Python (``sys.base_prefix``) at the same path; a Docker image or a cluster
image gives it that.

Example::

    >>> pack_environment("env.tar.gz")   # then, for spark-submit or the session's builder:
    ...                                  #   spark.archives=env.tar.gz#environment
    ...                                  #   spark.pyspark.python=./environment/bin/python
    'env.tar.gz'
"""
import sys


def pack_environment(output, prefix=sys.prefix, compress_level=4):
    """Write the virtual environment at ``prefix`` to ``output`` (``.tar.gz`` or ``.tgz``); return ``output``.

    ``compress_level`` 0 stores without compressing: quicker to pack, larger to ship.
    """
    if not output.endswith((".tar.gz", ".tgz")):
        raise ValueError(f"{output}: the archive must be a .tar.gz or .tgz, which Spark unpacks with the "
                         "interpreter's links and the files' modes intact")
    import venv_pack
    venv_pack.pack(prefix=prefix, output=output, format="tar.gz", compress_level=compress_level, verbose=False,
                   force=True)
    return output
