"""horovod-spark-ml: Keras 3 models as Spark ML estimators, trained with Horovod."""
from setuptools import find_packages, setup

setup(
    name="horovod-spark-ml",
    version="0.1.0",
    description="Keras 3 deep learning as Spark ML Estimators, trained with Horovod on Spark",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["horovod_spark_ml", "horovod_spark_ml.*"]),
    package_data={"horovod_spark_ml": ["log4j2-local.properties"]},
    python_requires=">=3.10,<3.13",
    # Supported ranges, the Spark 3.5 stack (Python 3.10-3.12, pyspark 3.5, numpy 1.26, pyarrow 14-15) to the
    # current one (pyspark 4, numpy 2, pyarrow 26); constraints.txt and constraints-legacy.txt pin the two sets
    # the tests ran with. horovod must be built from source against the installed TensorFlow
    # (see README, "Installing into your own environment").
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.5,<4",
        "horovod==0.28.1",
        "pyspark>=3.5,<5",
        "pyarrow>=14",
        "numpy>=1.26,<3",
        "pandas>=1.5,<3",
        "setuptools",  # horovod imports distutils at run time; Python 3.12 has it only through setuptools
        "tensorboard",  # logDir; TensorFlow 2.21 no longer pulls it in
    ],
    extras_require={
        "demo": ["scikit-learn>=1.3"],
        # readerBackend="petastorm": Petastorm 0.13.1 runs only with pyarrow 14 and numpy < 2
        "petastorm": ["petastorm==0.13.1", "pyarrow>=14,<15", "numpy>=1.26,<2", "setuptools<70"],
        "mlflow": ["mlflow-skinny>=2.10"],
        "test": ["pytest>=7", "scikit-learn>=1.3", "mlflow-skinny>=2.10"],
    },
    entry_points={"console_scripts": ["horovod-spark-ml=horovod_spark_ml.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
