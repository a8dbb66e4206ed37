from labelleak.models import TrainConfig
from labelleak.store import config_hash, dataset_fingerprint
from labelleak.targets import original_config, train_original


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_original_is_trained_once_then_loaded(digits, store):
    config = TrainConfig(epochs=2, batch_size=64)
    first = train_original(digits, seed=1, train_config=config, store=store)
    second = train_original(digits, seed=1, train_config=config, store=store)
    assert not first.cached and second.cached
    assert second.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    assert (store.path("original", first.config) / "model.safetensors").is_file()


def test_changed_config_or_seed_is_not_reused(digits, store):
    config = TrainConfig(epochs=2, batch_size=64)
    train_original(digits, seed=1, train_config=config, store=store)
    assert not train_original(digits, seed=2, train_config=config, store=store).cached
    assert not train_original(digits, seed=1, train_config=TrainConfig(epochs=3, batch_size=64), store=store).cached


def test_config_records_data_fingerprint(digits):
    config = original_config(digits)
    assert config["data"] == dataset_fingerprint(digits) and config["spec"]["arch"] == "mlp"
