"""The public stages: Spark ML Estimators and the Models they fit, and the Keras networks they build.

``estimator`` holds the fit path that every estimator shares; ``mlp``, ``cnn``,
``recurrent``, ``unsupervised``, ``dbn`` and ``keras_estimator`` the stages;
``model`` the fitted Models; ``architectures``, ``layers`` and ``rbm`` the
networks as plain Keras code. Import the stages from ``horovod_spark_ml``.
"""
from ..stack import FRAMEWORKS, check_stack

check_stack(FRAMEWORKS)  # a stage, or a saved Model being loaded, says what to install instead of an ImportError
