"""The builder functions give the published layouts, and scaled versions that fit small images."""
from horovod_spark_ml.estimators.architectures import build_alexnet, build_lenet


def shape(model, layer):
    return tuple(model.get_layer(layer).output.shape[1:])


def test_alexnet_at_227_has_the_2012_layout():
    model = build_alexnet(1000)
    assert shape(model, "conv1") == (55, 55, 96)
    assert shape(model, "pool1") == (27, 27, 96)
    assert shape(model, "conv2") == (27, 27, 256)
    assert [shape(model, f"conv{i}")[-1] for i in (3, 4, 5)] == [384, 384, 256]
    assert shape(model, "pool5") == (6, 6, 256)
    assert shape(model, "fc6") == shape(model, "fc7") == (4096,)
    assert shape(model, "fc8") == (1000,)
    assert 62_000_000 < model.count_params() < 63_000_000   # the paper's "60 million", ungrouped


def test_alexnet_scales_its_layout_to_small_images():
    model = build_alexnet(10, (32, 32, 1))
    names = [layer.name for layer in model.layers]
    assert all(name in names for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"))
    assert shape(model, "pool5")[:2] == (4, 4)
    assert model.count_params() < 1_000_000
    wide = build_alexnet(10, (32, 32, 1), width=0.5, dropout=0.0, batch_norm=True, l2=1e-4)
    assert shape(wide, "conv1")[-1] == 48 and shape(wide, "fc7") == (2048,)
    assert wide.get_layer("batch_norm1") is not None


def test_lenet_fits_8x8_images():
    model = build_lenet(10, (8, 8, 1))
    assert shape(model, "conv1") == (8, 8, 6) and shape(model, "output") == (10,)
