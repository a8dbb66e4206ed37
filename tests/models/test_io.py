import json

import pytest
import torch

from labelleak.models import ModelFileError, ModelSpec, build_model, load_model, read_state_dict, save_model
from labelleak.models.io import load_into

SPEC = ModelSpec(arch="mlp", in_channels=1, image_size=8, num_classes=10)


def test_save_load_round_trip(tmp_path):
    model = build_model(SPEC, seed=1)
    save_model(model, tmp_path, metadata={"note": "x"})
    loaded, sidecar = load_model(tmp_path)
    assert sidecar["note"] == "x" and sidecar["spec"]["arch"] == "mlp" and len(sidecar["sha256"]) == 64
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert not list(tmp_path.glob("*.tmp"))


def test_tampered_weights_fail_the_checksum(tmp_path):
    save_model(build_model(SPEC, seed=1), tmp_path)
    sidecar = json.loads((tmp_path / "model.json").read_text())
    sidecar["sha256"] = "0" * 64
    (tmp_path / "model.json").write_text(json.dumps(sidecar))
    with pytest.raises(ModelFileError, match="does not match the sha256"):
        load_model(tmp_path)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelFileError, match="corrupt safetensors"):
        read_state_dict(path)


def test_weights_for_another_architecture_give_one_line(tmp_path):
    other = build_model(ModelSpec(arch="lenet", in_channels=1, image_size=28, num_classes=10), seed=0)
    path = tmp_path / "lenet.pt"
    torch.save(other.state_dict(), path)
    with pytest.raises(ModelFileError) as info:
        load_into(build_model(SPEC), read_state_dict(path), source=str(path))
    assert "do not fit the architecture" in str(info.value) and "\n" not in str(info.value)


def test_shape_mismatch_is_named(tmp_path):
    wide = build_model(ModelSpec(arch="mlp", in_channels=1, image_size=8, num_classes=12), seed=0)
    with pytest.raises(ModelFileError, match=r"shape mismatch at 'head.weight'"):
        load_into(build_model(SPEC), wide.state_dict(), source="mem")


def test_pickled_object_is_refused_and_not_run(tmp_path):
    import os

    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"weight": Exploit()}, path)
    with pytest.raises(ModelFileError, match="not a plain tensor state dict"):
        read_state_dict(path)
    assert not marker.exists()


def test_non_dict_checkpoint_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ModelFileError, match="expected a state dict of tensors"):
        read_state_dict(path)


def test_nan_weights_are_refused():
    state = build_model(SPEC, seed=0).state_dict()
    state["head.bias"][0] = float("nan")
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        load_into(build_model(SPEC), state, source="mem")


def test_missing_weights_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        read_state_dict(tmp_path / "none.safetensors")
