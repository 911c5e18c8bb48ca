"""LSTMClassifier and LSTMRegressor end to end on 2 Horovod ranks, on ragged sequences that Spark pads.

The data are noisy sine waves of 8 to 30 steps, two features each (the wave
and its square); the class is the frequency band.
"""
import numpy as np
import pytest
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.linalg import VectorUDT

from horovod_spark_ml import InputError, LSTMClassifier, LSTMRegressor

FREQUENCIES = (0.15, 0.45)


@pytest.fixture(scope="module")
def waves(spark):
    rng = np.random.default_rng(1)
    rows = []
    for i in range(320):
        label = i % 2
        n = int(rng.integers(8, 31))
        wave = np.sin(FREQUENCIES[label] * np.arange(n + 1) + rng.uniform(0, 2 * np.pi)) + 0.05 * rng.normal(size=n + 1)
        steps = [[float(v), float(v * v)] for v in wave[:-1]]
        rows.append((i, steps, [float(v) for v in wave[:-1]], float(label), float(wave[-1]), [float(label)] * n))
    df = spark.createDataFrame(rows, ["id", "sequence", "series", "label", "nextValue", "tags"])
    train, test = df.randomSplit([0.8, 0.2], seed=5)
    return train.cache(), test.cache()


def common(store, **params):
    settings = dict(units=[16], learningRate=0.01, epochs=8, batchSize=32, numProc=2, storePath=store, verbose=0)
    return {**settings, **params}


@pytest.fixture(scope="module")
def classifier(waves, store):
    return LSTMClassifier(**common(store)).fit(waves[0])


def test_lstm_classifies_sequences_of_different_lengths(classifier, waves):
    predictions = classifier.transform(waves[1])
    assert MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions) >= 0.9
    assert isinstance(predictions.schema["probability"].dataType, VectorUDT)


def test_one_sequences_prediction_equals_what_transform_gives(classifier, waves):
    for row in classifier.transform(waves[1].limit(3)).collect():
        assert classifier.predict(row.sequence) == row.prediction
        assert np.allclose(classifier.predictProbability(row.sequence).toArray(), row.probability.toArray(),
                           atol=1e-5)
    with pytest.raises(InputError, match="each step holds 1 values, but this model reads 2 per step"):
        classifier.predict([0.5] * 10)
    with pytest.raises(InputError, match="featuresCol 'sequence': an empty sequence has nothing to predict from"):
        classifier.predict([])


def test_padding_changes_no_prediction(classifier, waves):
    """The network sees each row padded to the longest length; what fills the padding must not matter."""
    keras_model = classifier.getKerasModel()
    steps = keras_model.get_layer("sequence").output.shape[1]
    row = waves[1].orderBy("id").first()
    length = len(row.sequence)
    padded = np.zeros((2, steps, 2), np.float32)
    padded[:, :length] = row.sequence
    padded[1, length:] = 7.0  # junk in the padded steps
    outputs = keras_model.predict({"sequence": padded, "length": np.array([length, length])}, verbose=0)
    assert np.allclose(outputs[0], outputs[1], atol=1e-6)
    spark_raw = classifier.transform(waves[1].filter(f"id = {row.id}")).first().rawPrediction.toArray()
    assert np.allclose(spark_raw, outputs[0], atol=1e-5)


def test_fitted_sequence_model_saves_and_loads(classifier, waves, tmp_path):
    from horovod_spark_ml import LSTMClassificationModel
    classifier.save(str(tmp_path / "lstm"))
    reloaded = LSTMClassificationModel.load(str(tmp_path / "lstm"))
    before = [r.probability for r in classifier.transform(waves[1]).orderBy("id").collect()]
    after = [r.probability for r in reloaded.transform(waves[1]).orderBy("id").collect()]
    assert np.allclose(before, after)


def test_truncation_keeps_the_newest_or_the_oldest_steps(spark):
    from horovod_spark_ml.data.sequence_input import SequenceFeatures
    df = spark.createDataFrame([([1.0, 2.0, 3.0, 4.0],), ([5.0],)], "series array<double>")
    newest = SequenceFeatures("series", steps=2, width=1, truncate="start")
    oldest = SequenceFeatures("series", steps=2, width=1, truncate="end")
    assert [tuple(r) for r in df.select(*newest.columns(df)).collect()] == [([3.0, 4.0], 2), ([5.0, 0.0], 1)]
    assert [tuple(r) for r in df.select(*oldest.columns(df)).collect()] == [([1.0, 2.0], 2), ([5.0, 0.0], 1)]


def test_gru_regressor_predicts_the_next_value_of_a_one_feature_series(waves, store):
    model = LSTMRegressor(**common(store, cell="gru", featuresCol="series", labelCol="nextValue", horizon=1,
                                   epochs=15)).fit(waves[0])
    rows = model.transform(waves[1]).select("nextValue", "prediction").collect()
    errors = [abs(r.nextValue - r.prediction) for r in rows]
    baseline = [abs(r.nextValue) for r in rows]  # predicting 0, the mean of a sine
    assert np.mean(errors) < 0.5 * np.mean(baseline)


def test_thresholds_with_a_label_per_step_stop_the_fit_before_it_stages(waves, tmp_path):
    store = tmp_path / "store"
    with pytest.raises(InputError, match="thresholds apply to whole sequences; with labelPerStep"):
        LSTMClassifier(**common(str(store), labelCol="tags", labelPerStep=True, thresholds=[1.0, 2.0])).fit(waves[0])
    assert not any(store.rglob("*.parquet"))


def test_bidirectional_tagger_predicts_a_label_per_step(waves, store):
    model = LSTMClassifier(**common(store, cell="rnn", bidirectional=True, labelCol="tags", labelPerStep=True,
                                    maxLength=20, truncateFrom="end")).fit(waves[0])
    rows = model.transform(waves[1]).select("sequence", "tags", "prediction", "probability").collect()
    assert all(len(r.prediction) == min(len(r.sequence), 20) == len(r.probability) for r in rows)
    assert [model.predict(r.sequence) for r in rows[:3]] == [r.prediction for r in rows[:3]]
    with pytest.raises(InputError, match="thresholds apply to whole sequences; with labelPerStep"):
        model.copy().setThresholds([1.0, 2.0]).transform(waves[1])
    correct = sum(p == t for r in rows for p, t in zip(r.prediction, r.tags))
    assert correct / sum(len(r.prediction) for r in rows) >= 0.85


def test_regressor_predicts_several_values_per_sequence_or_one_per_step(waves, store):
    from pyspark.sql import functions as F
    train = waves[0].withColumn("targets", F.array("nextValue", F.col("label")))
    model = LSTMRegressor(**common(store, labelCol="targets", horizon=2, epochs=3)).fit(train)
    assert isinstance(model.transform(waves[1]).schema["prediction"].dataType, VectorUDT)
    first = model.transform(waves[1].limit(1)).first()  # predict gives one row what transform gives it
    assert list(model.predict(first[model.getFeaturesCol()])) == pytest.approx(list(first.prediction), abs=1e-5)
    with pytest.raises(InputError, match="holds 2 values per row but horizon=1"):
        LSTMRegressor(**common(store, labelCol="targets")).fit(train)
    tagger = LSTMRegressor(**common(store, featuresCol="series", labelCol="series", labelPerStep=True,
                                    epochs=3)).fit(waves[0])
    row = tagger.transform(waves[1]).first()
    assert len(row.prediction) == len(row.series)


@pytest.mark.parametrize("rows, message", [
    ([([[1.0, 2.0], [3.0]], 0.0), ([[1.0, 2.0]], 1.0)], "1 rows with time steps of different widths"),
    ([([], 0.0), ([[1.0, 2.0]], 1.0)], "1 rows with empty sequences"),
    ([([[1.0, None]], 0.0), ([[1.0, 2.0]], 1.0)], "1 rows with sequences with null values inside"),
    ([([[1.0, float("nan")]], 0.0), ([[float("-inf"), 2.0]], 1.0), ([[1.0, 2.0]], 1.0)],
     "2 rows with sequences with NaN or infinite values"),
    ([([[1.0, 2.0]], 0.0), ([[1.0, 2.0, 3.0]], 1.0)], "has time steps of 2 to 3 values"),
])
def test_bad_sequences_are_rejected_on_the_driver(spark, store, rows, message):
    df = spark.createDataFrame(rows, "sequence array<array<double>>, label double")
    with pytest.raises(InputError, match=f"featuresCol 'sequence' (has {message}|{message})"):
        LSTMClassifier(**common(store)).fit(df)


def test_a_column_that_is_no_sequence_is_named(spark, store):
    df = spark.createDataFrame([("a", 0.0), ("b", 1.0)], ["sequence", "label"])
    with pytest.raises(InputError, match="featuresCol 'sequence' has type string; expected a sequence"):
        LSTMClassifier(**common(store)).fit(df)


def test_read_sequence_csvs_takes_labels_from_a_column_a_file_name_or_a_labels_file(spark, tmp_path):
    folder = tmp_path / "sensors"
    for label, name, steps in (("walk", "walk_1.csv", 3), ("run", "run_2.csv", 5)):
        lines = ["x,y,activity"] + [f"{i},{i * 2},{label}" for i in range(steps)]
        (folder / label).mkdir(parents=True)
        (folder / label / name).write_text("\n".join(lines) + "\n\n")
    (tmp_path / "labels.csv").write_text("file,label\nwalk_1.csv,0.5\nrun_2.csv,1.5\n")
    from horovod_spark_ml import read_sequence_csvs

    by_column = read_sequence_csvs(spark, str(folder), header=True, labelFrom="file", labelColumn="activity")
    rows = {r.file: r for r in by_column.collect()}
    assert rows["walk_1.csv"].sequence == [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]] and rows["walk_1.csv"].label == "walk"
    assert len(rows["run_2.csv"].sequence) == 5 and rows["run_2.csv"].label == "run"
    by_name = read_sequence_csvs(spark, str(folder), header=True, labelFrom=r"^([a-z]+)_\d+\.csv$")
    assert {r.file: r.label for r in by_name.collect()} == {"walk_1.csv": "walk", "run_2.csv": "run"}
    by_folder = read_sequence_csvs(spark, str(folder), header=True, labelFrom="parentDir")
    assert {r.label for r in by_folder.collect()} == {"walk", "run"}
    by_file = read_sequence_csvs(spark, str(folder), header=True, labelsFile=str(tmp_path / "labels.csv"))
    assert {r.file: r.label for r in by_file.collect()} == {"walk_1.csv": 0.5, "run_2.csv": 1.5}
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "s.csv").write_text("1,2,0\n3,4,0\n")
    no_header = read_sequence_csvs(spark, str(tmp_path / "plain"), labelFrom="file", labelColumn=2).first()
    assert no_header.sequence == [[1.0, 2.0], [3.0, 4.0]] and no_header.label == 0.0
    with pytest.raises(InputError, match="needs labelColumn"):
        read_sequence_csvs(spark, str(folder), labelFrom="file")


@pytest.mark.parametrize("rows, message", [
    ([([1.0, 2.0], [0.0]), ([3.0], [1.0])], "labelCol 'tags' has 1 rows whose number of labels differs"),
    ([([1.0, 2.0], [0.0, 0.5]), ([3.0], [1.0])], "labelCol 'tags' holds values that are not class indices"),
    ([([1.0, 2.0], [0.0, None]), ([3.0], [1.0])], "labelCol 'tags' has 1 rows with null or NaN labels"),
])
def test_bad_per_step_labels_are_rejected_on_the_driver(spark, store, rows, message):
    df = spark.createDataFrame(rows, "series array<double>, tags array<double>")
    with pytest.raises(InputError, match=message):
        LSTMClassifier(**common(store, featuresCol="series", labelCol="tags", labelPerStep=True)).fit(df)


@pytest.mark.parametrize("params, message", [
    ({"cell": "tcn"}, "cell=tcn is invalid: it must be one of lstm, gru, rnn"),
    ({"units": []}, r"units=\[\] is invalid: it must be a non-empty list of positive sizes"),
    ({"truncateFrom": "middle"}, "truncateFrom=middle is invalid: it must be 'start' or 'end'"),
    ({"maxLength": 0}, "maxLength=0 is invalid: it must be positive"),
])
def test_invalid_sequence_params_are_named(waves, store, params, message):
    with pytest.raises(InputError, match=message):
        LSTMClassifier(**common(store, **params)).fit(waves[0])


def test_read_sequence_csvs_rejects_contradictory_or_malformed_label_settings(spark, tmp_path):
    from horovod_spark_ml import read_sequence_csvs
    with pytest.raises(InputError, match="labelFrom and labelsFile are both set"):
        read_sequence_csvs(spark, str(tmp_path), labelFrom="parentDir", labelsFile=str(tmp_path / "labels.csv"))
    with pytest.raises(InputError, match="labelColumn 'activity' is a name but header=False"):
        read_sequence_csvs(spark, str(tmp_path), labelFrom="file", labelColumn="activity")
    with pytest.raises(InputError, match=r"labelFrom '\(' is not a valid regular expression"):
        read_sequence_csvs(spark, str(tmp_path), labelFrom="(")
    with pytest.raises(InputError, match="has 0 groups; it needs exactly one"):
        read_sequence_csvs(spark, str(tmp_path), labelFrom=r"\d+")
