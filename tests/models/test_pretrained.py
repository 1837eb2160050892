"""Pretrained loading from files and offline caches, with honest failures. No network."""

import huggingface_hub.constants
import pytest
import timm
import torch
from safetensors.torch import save_file

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.models import create_model


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch):
    """Point the Hugging Face and torch hub caches at empty folders."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def _imagenet_resnet18():
    model = timm.create_model("resnet18")
    with torch.no_grad():
        model.conv1.weight.fill_(0.123)
    return model


def test_loads_safetensors_file_and_reports_what_it_did(tmp_path):
    path = tmp_path / "r18.safetensors"
    save_file(_imagenet_resnet18().state_dict(), str(path))
    model = create_model(ModelSpec("resnet18", "se", pretrained=True, weights=str(path), image_size=64))
    conv1 = model.backbone.stages[0].conv1.weight
    assert torch.all(conv1 == 0.123)
    report = model.weights_report
    assert report["file"] == str(path) and report["loaded_tensors"] == 100
    assert report["ignored_keys"] == ["fc.bias", "fc.weight"]
    assert any(".attn.fc1.weight" in k for k in report["new_parameters"])
    assert "head.fc.weight" in report["new_parameters"]
    assert not any("conv1" in k for k in report["new_parameters"])


def test_loads_a_wrapped_pth_checkpoint_with_ddp_prefixes(tmp_path):
    state = {f"module.{k}": v for k, v in _imagenet_resnet18().state_dict().items()}
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    model = create_model(ModelSpec("resnet18", pretrained=True, weights=str(path), image_size=64))
    assert torch.all(model.backbone.stages[0].conv1.weight == 0.123)


def test_finds_weights_in_the_hugging_face_cache(empty_caches):
    snapshot = empty_caches / "hf" / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file(_imagenet_resnet18().state_dict(), str(snapshot / "model.safetensors"))
    (empty_caches / "hf" / "models--timm--resnet18.a1_in1k" / "refs").mkdir()
    (empty_caches / "hf" / "models--timm--resnet18.a1_in1k" / "refs" / "main").write_text("abc123")
    model = create_model(ModelSpec("resnet18", "cbam", pretrained=True, image_size=64))
    assert torch.all(model.backbone.stages[0].conv1.weight == 0.123)
    assert model.weights_report["file"].endswith("model.safetensors")


def test_no_cached_weights_is_an_error_not_random_weights():
    with pytest.raises(ConfigError, match="pretrained weights for resnet18 .* are not in the local"):
        create_model(ModelSpec("resnet18", pretrained=True, image_size=64))


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "r50.safetensors"
    save_file(timm.create_model("resnet50").state_dict(), str(path))
    with pytest.raises(ConfigError) as err:
        create_model(ModelSpec("resnet18", pretrained=True, weights=str(path), image_size=64))
    message = str(err.value)
    assert "does not fit resnet18" in message and "tensors match" in message and "expected" in message


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        (b"not a checkpoint at all", ".pth", "not a weights file"),
        (b"garbage", ".safetensors", "not a weights file"),
    ],
)
def test_files_that_are_not_weights_are_refused(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        create_model(ModelSpec("resnet18", pretrained=True, weights=str(path), image_size=64))


def test_pickled_objects_are_not_executed_or_accepted(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": object()}, path)
    with pytest.raises(ConfigError, match="not a weights file"):
        create_model(ModelSpec("resnet18", pretrained=True, weights=str(path), image_size=64))


def test_a_file_of_non_tensors_is_refused(tmp_path):
    path = tmp_path / "numbers.pth"
    torch.save({"epoch": 3, "lr": 0.1}, path)
    with pytest.raises(ConfigError, match="not a state dict of tensors"):
        create_model(ModelSpec("resnet18", pretrained=True, weights=str(path), image_size=64))


def test_missing_weights_file_is_named():
    with pytest.raises(ConfigError, match="--weights /nowhere/w.pth: file not found"):
        create_model(ModelSpec("resnet18", pretrained=True, weights="/nowhere/w.pth", image_size=64))


def test_vit_weights_fit_at_any_image_size(tmp_path):
    path = tmp_path / "deit.safetensors"
    save_file(timm.create_model("deit_tiny_patch16_224").state_dict(), str(path))
    model = create_model(ModelSpec("deit_tiny", pretrained=True, weights=str(path), image_size=64))
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
