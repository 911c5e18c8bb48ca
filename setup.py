"""horovod-spark-ml: Keras 3 models as Spark ML estimators, trained with Horovod."""
from setuptools import find_packages, setup

setup(
    name="horovod-spark-ml",
    version="0.1.0",
    description="Keras 3 deep learning as Spark ML Estimators, trained with Horovod on Spark",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["horovod_spark_ml", "horovod_spark_ml.*"]),
    package_data={"horovod_spark_ml": ["log4j2-local.properties", "horovod_build/*"]},
    python_requires=">=3.10,<3.13",
    # Only what every supported environment already has, at ranges that every Databricks ML LTS runtime
    # from 15.4 on satisfies (tests/test_install.py checks it against their package lists), so that
    # installing the wheel there changes nothing the runtime ships. The frameworks are the environment's:
    # a Databricks runtime's Spark is not a pip package, and Horovod must be built against the installed
    # TensorFlow (horovod-spark-ml build-horovod). On a bare machine:
    #   pip install 'horovod-spark-ml[spark,tensorflow]' && horovod-spark-ml build-horovod
    # horovod_spark_ml/stack.py checks the frameworks' versions on first use; constraints.txt and
    # constraints-legacy.txt pin the two sets the tests ran with.
    install_requires=[
        "numpy>=1.23.5,<3",
        "pyarrow>=14",
        "pandas>=1.5",
        "packaging>=23",
    ],
    extras_require={
        "spark": ["pyspark>=3.5,<5"],
        "tensorflow": ["tensorflow>=2.16,<2.22", "keras>=3.5,<4",
                       "tensorboard"],  # logDir; TensorFlow 2.21 no longer pulls it in
        "demo": ["scikit-learn>=1.3"],
        # readerBackend="petastorm": Petastorm 0.13.1 runs only with pyarrow 14 and numpy < 2 (and requires pyspark)
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
