"""Reading data in: a DataFrame's checked schema, its features as staged Parquet, and the store it lives in.

``schema`` and the ``*_input`` modules check columns on the driver; ``layout``
maps staged columns to a model's inputs; ``staging`` writes them under
``storePath`` (``store``); ``image_files``, ``sequence_files`` and
``path_labels`` read folders of files into DataFrames.
"""
