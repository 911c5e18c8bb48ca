"""What :mod:`.executor_check` runs on each executor; pickled by value, so it imports only the standard library.

Example::

    >>> probe(("horovod", "tensorflow"), "file:///mnt/shared/store")
    {'host': '10.0.0.11', 'python': '/opt/env/bin/python', 'missing': {}, 'store_error': None}
"""


def probe(modules, store_url, rank_env):
    """This executor's address, its Python, the ``modules`` it cannot find, and whether it can write the store.

    Where nothing is missing, it also starts the executor's rank server (see
    :mod:`.warm_ranks`) if none runs, and this Python worker's imports for
    Horovod's task, so that both start early; and the worker's next tasks
    skip re-reading PySpark's zips (see :mod:`..zip_import_cache`).
    """
    import importlib.util
    import os
    import socket
    import sys
    import uuid

    missing = {}
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
            error = None if found else f"No module named '{name}'"
        except Exception as e:  # a broken install can fail while being looked up
            error = f"{type(e).__name__}: {e}"
        if error:
            missing[name] = error
    store_error = None
    if (store_url or "").startswith("file://"):  # a local folder (as store.Store names it): "#" is part of it
        folder = store_url[len("file://"):]
        path = os.path.join(folder, f".write-probe-{uuid.uuid4().hex}")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(path, "w") as f:
                f.write("ok")
            os.remove(path)
        except OSError as e:
            store_error = f"{e.strerror}: {e.filename}"
    if not missing:
        try:
            from horovod_spark_ml.training.executor.warm_ranks import start_server, warm_task_imports
            from horovod_spark_ml.zip_import_cache import reread_changed_zips
            start_server(rank_env)
            warm_task_imports()
            reread_changed_zips()
        except Exception:  # the first rank starts it, or runs cold, and says why
            pass
    host = os.environ.get("SPARK_LOCAL_IP") or socket.gethostname()
    return {"host": host, "python": sys.executable, "missing": missing, "store_error": store_error}
