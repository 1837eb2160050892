"""Precision choice (``amp``): bf16 autocast where the CPU runs it fast, fp32 elsewhere, recorded per run."""

import json

import pytest
import torch

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.models import create_model
from medattn.models.catalog import catalog
from medattn.train import precision as precision_module
from medattn.train.precision import choose_precision, cpu_bf16_speedup, measure_bf16_speedup, run_precision

CPU = torch.device("cpu")


def fake_cpu(monkeypatch, *, kernels: bool, speedup: float | None):
    """Pretend to be a CPU with or without bf16 kernels that measures ``speedup``."""
    monkeypatch.setattr(
        precision_module, "cpu_capability",
        lambda: {"cpu": "fake", "cpu_capability": "AVX512" if kernels else "AVX2", "bf16_kernels": kernels},
    )  # fmt: skip

    def measured(**model):
        if speedup is None:
            raise AssertionError("a CPU without bf16 kernels must not be measured")
        return speedup

    monkeypatch.setattr(precision_module, "cpu_bf16_speedup", measured)


@pytest.mark.parametrize(
    ("kernels", "speedup", "chosen"),
    [(True, 2.5, "bf16"), (True, 0.4, "fp32"), (True, 1.1, "fp32"), (False, None, "fp32")],
)
def test_auto_follows_the_cpu(monkeypatch, kernels, speedup, chosen):
    fake_cpu(monkeypatch, kernels=kernels, speedup=speedup)
    precision = choose_precision(CPU, "auto")
    assert precision.name == chosen
    assert precision.record["requested"] == "auto"
    assert precision.record["bf16_kernels"] is kernels
    assert "reason" in precision.record


def test_the_default_autocasts_on_cuda_only_and_keeps_the_cpu_in_fp32(monkeypatch):
    fake_cpu(monkeypatch, kernels=True, speedup=None)  # not even measured
    from medattn.config import TrainSpec

    assert TrainSpec().amp == "cuda"
    precision = choose_precision(CPU, "cuda")
    assert precision.name == "fp32" and "CUDA only" in precision.record["reason"]


def test_forced_modes_ignore_the_measurement(monkeypatch):
    fake_cpu(monkeypatch, kernels=False, speedup=None)
    assert choose_precision(CPU, "off").dtype is None
    assert choose_precision(CPU, "bf16").dtype == torch.bfloat16
    assert choose_precision(CPU, "off").amp_mode == "off"
    assert choose_precision(CPU, "bf16").amp_mode == "bf16"
    with pytest.raises(ConfigError, match="amp mode 'half'"):
        choose_precision(CPU, "half")


def test_a_recorded_auto_is_a_run_from_before_cpu_autocast(monkeypatch):
    fake_cpu(monkeypatch, kernels=True, speedup=3.0)
    assert run_precision(CPU, "auto", recorded=True).name == "fp32"
    assert run_precision(CPU, "auto", recorded=False).name == "bf16"
    assert run_precision(CPU, "bf16", recorded=True).name == "bf16"


def test_the_measurement_is_cached_per_machine(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(precision_module, "_MEASURED", {})  # a fresh process
    monkeypatch.setattr(precision_module, "measure_bf16_speedup", lambda **model: calls.append(1) or 1.7)
    cache = tmp_path / "precision.json"
    assert cpu_bf16_speedup(cache) == 1.7
    assert cpu_bf16_speedup(cache) == 1.7
    assert len(calls) == 1
    (key,) = json.loads(cache.read_text())
    assert f"{torch.get_num_threads()} threads" in key
    monkeypatch.setattr(precision_module, "_MEASURED", {})  # the next process reads the file
    assert cpu_bf16_speedup(cache) == 1.7 and len(calls) == 1
    monkeypatch.setattr(precision_module, "_MEASURED", {})
    cache.write_text("not json")  # a damaged cache is measured again, not trusted
    assert cpu_bf16_speedup(cache) == 1.7 and len(calls) == 2


def test_a_run_records_its_precision_and_resumes_with_it(monkeypatch, tmp_path):
    from medattn.config import DataSpec, RunConfig, TrainSpec
    from medattn.train import run as run_module
    from medattn.train.run import train_run

    used = []
    recorded = run_module.run_precision
    monkeypatch.setattr(run_module, "run_precision", lambda *a, **k: used.append(recorded(*a, **k)) or used[-1])
    fake_cpu(monkeypatch, kernels=True, speedup=3.0)
    config = RunConfig(DataSpec(synthetic_n=60), ModelSpec("resnet18", image_size=32), TrainSpec(epochs=1, amp="auto"))
    out = tmp_path / "run"
    train_run(config, out)
    assert "amp: bf16" in (out / "config.yaml").read_text()
    environment = json.loads((out / "env.json").read_text())["precision"]
    assert environment["chosen"] == "bf16" and environment["requested"] == "auto"
    assert environment["bf16_speedup"] == 3.0 and environment["cpu_capability"] == "AVX512"
    fake_cpu(monkeypatch, kernels=False, speedup=None)  # the machine changed: the run keeps its precision
    train_run(None, out, resume=True)
    assert [p.name for p in used] == ["bf16", "bf16"]


def test_auto_measures_the_runs_own_model_once_per_machine_and_model(monkeypatch, tmp_path):
    # On the EPYC of docs/benchmarks.md, ResNet-18 trains 1.5x faster in bf16, EfficientNet-B0 2x slower.
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache" / "decoded"))
    monkeypatch.setattr(precision_module, "_MEASURED", {})
    monkeypatch.setattr(precision_module, "cpu_capability",
                        lambda: {"cpu": "fake", "cpu_capability": "AVX512", "bf16_kernels": True})  # fmt: skip
    measured = []

    def measure(model=None, image_size=None):
        measured.append((model.spec.backbone, image_size))
        return 0.5 if model.spec.backbone == "efficientnet_b0" else 1.5

    monkeypatch.setattr(precision_module, "measure_bf16_speedup", measure)
    resnet = create_model(ModelSpec("resnet18", image_size=32))
    efficientnet = create_model(ModelSpec("efficientnet_b0", image_size=32))
    assert choose_precision(CPU, "auto", model=resnet, image_size=64).name == "bf16"
    chosen = choose_precision(CPU, "auto", model=efficientnet, image_size=64)
    assert chosen.name == "fp32" and chosen.record["measured_on"].startswith("efficientnet_b0 none")
    assert choose_precision(CPU, "auto", model=resnet, image_size=64).name == "bf16"
    assert choose_precision(CPU, "auto", model=resnet, image_size=128).name == "bf16"
    assert measured == [("resnet18", 64), ("efficientnet_b0", 64), ("resnet18", 128)]  # cached per model and size


def test_measuring_a_model_leaves_it_untouched():
    model = create_model(ModelSpec("resnet18", "cbam", image_size=32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ratio = measure_bf16_speedup(rounds=1, model=model, image_size=32)
    assert 0.01 < ratio < 100
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics too
    assert all(p.grad is None for p in model.parameters())


def test_the_micro_benchmark_measures_a_ratio():
    ratio = measure_bf16_speedup(rounds=1)
    assert 0.01 < ratio < 100


def _block_variants():
    """Every attention mechanism the zoo places in a ResNet-18, plus the ViT's softmax attention."""
    valid = catalog()["valid"]
    return [(b, a, p) for b, a, p in valid if b == "resnet18"] + [("vit_tiny", "none", None)]


@pytest.mark.parametrize(("backbone", "attention", "placement"), _block_variants())
def test_every_mechanism_trains_finitely_under_bf16_autocast(backbone, attention, placement):
    size = 32
    torch.manual_seed(0)
    model = create_model(
        ModelSpec(backbone, attention, placement=placement, num_classes=3, image_size=size)
    )  # fmt: skip
    images = torch.randn(4, 3, size, size) * 30  # far outside the normalised range: gates saturate
    labels = torch.tensor([0, 1, 2, 0])
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(images)
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    loss.backward()
    assert torch.isfinite(logits.float()).all()
    assert torch.isfinite(loss)
    for name, parameter in model.named_parameters():
        assert parameter.dtype == torch.float32, name  # weights stay fp32; only products run in bf16
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point():
            assert buffer.dtype == torch.float32 and torch.isfinite(buffer).all(), name  # BN statistics


@pytest.mark.parametrize(("backbone", "attention", "placement"), _block_variants())
def test_bf16_inference_agrees_with_fp32(backbone, attention, placement):
    torch.manual_seed(1)
    model = create_model(ModelSpec(backbone, attention, placement=placement, num_classes=3, image_size=32)).eval()
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        reference = model(images).softmax(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(images).float().softmax(1)
    assert torch.isfinite(low).all()
    assert (low - reference).abs().max() < 0.05  # bf16 keeps ~3 significant digits per product
