import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from medattn.errors import ConfigError
from medattn.explain.scores.sanity import parameter_groups, randomisation_check


def blob_images(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """16 x 16 noise with a bright 4 x 4 square in the left (class 0) or right (class 1) half."""
    labels = torch.randint(0, 2, (n,), generator=generator)
    images = 0.3 * torch.rand(n, 1, 16, 16, generator=generator)
    ys = torch.randint(0, 12, (n,), generator=generator)
    xs = torch.randint(0, 4, (n,), generator=generator) + 8 * labels
    for i in range(n):
        images[i, 0, ys[i] : ys[i] + 4, xs[i] : xs[i] + 4] += 1.0
    return images, labels


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 16 * 16, 2),
    )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny convolutions are dominated by thread synchronisation on a busy 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = small_cnn()
    for _ in range(40):  # plain gradient descent: torch.optim would import torch._dynamo (seconds)
        images, labels = blob_images(32, generator)
        gradients = torch.autograd.grad(F.cross_entropy(model(images), labels), list(model.parameters()))
        with torch.no_grad():
            for parameter, gradient in zip(model.parameters(), gradients, strict=True):
                parameter -= 0.2 * gradient
    images, labels = blob_images(8, generator)
    assert (model(images).argmax(1) == labels).float().mean() >= 0.9  # the task was learned
    return model.eval(), images, labels


def input_gradient(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    images = images.clone().requires_grad_(True)
    score = model(images).gather(1, targets[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, images)
    return gradient.abs().amax(1, keepdim=True)


def backward_gradient(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Input gradient through ``.backward()``, which also fills the parameters' ``.grad``."""
    images = images.clone().requires_grad_(True)
    model(images).gather(1, targets[:, None]).sum().backward()
    return images.grad.abs().amax(1, keepdim=True)


def sobel(model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    gray = images.mean(1, keepdim=True)
    gx = F.conv2d(gray, kernel[None, None], padding=1)
    gy = F.conv2d(gray, kernel.t()[None, None], padding=1)
    return (gx**2 + gy**2).sqrt()


def test_model_independent_explainer_is_flagged(trained):
    model, images, labels = trained
    for mode in ("cascading", "independent"):
        result = randomisation_check(model, sobel, images, labels, mode=mode)
        assert not result.passed
        np.testing.assert_allclose(result.similarity, 1.0)
        assert result.statistic == pytest.approx(1.0) and result.threshold == 0.5


def test_input_gradient_of_a_trained_cnn_passes(trained):
    model, images, labels = trained
    result = randomisation_check(model, input_gradient, images, labels)
    assert result.passed and result.statistic < 0.5
    assert result.mode == "cascading" and result.measure == "spearman"
    assert result.steps == ("5", "2", "0")  # output side first
    assert result.similarity.shape == (3, 8)
    ssim_result = randomisation_check(model, input_gradient, images, labels, measure="ssim")
    assert ssim_result.passed and ssim_result.measure == "ssim"


def test_caller_model_and_global_rng_are_untouched(trained):
    model, images, labels = trained
    before = {name: value.clone() for name, value in model.state_dict().items()}
    rng_state = torch.get_rng_state()
    first = randomisation_check(model, backward_gradient, images, labels, mode="independent", seed=3)
    assert torch.equal(torch.get_rng_state(), rng_state)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.grad is None for p in model.parameters())
    again = randomisation_check(model, backward_gradient, images, labels, mode="independent", seed=3)
    np.testing.assert_array_equal(first.similarity, again.similarity)
    other = randomisation_check(model, backward_gradient, images, labels, mode="independent", seed=4)
    assert not np.array_equal(first.similarity, other.similarity)


def test_cascading_and_independent_draw_the_same_top_group(trained):
    model, images, labels = trained
    cascading = randomisation_check(model, input_gradient, images, labels, mode="cascading")
    independent = randomisation_check(model, input_gradient, images, labels, mode="independent")
    np.testing.assert_allclose(cascading.similarity[0], independent.similarity[0])


class Wrapper(nn.Module):
    """Like TargetModel: all parameters in one child, plus a stage container with its own parameter."""

    def __init__(self):
        super().__init__()
        self.model = nn.Sequential()
        self.model.add_module("backbone", nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)))
        self.model.add_module("head", nn.Linear(4, 2))
        self.model.backbone.register_parameter("scale", nn.Parameter(torch.ones(1)))


def test_parameter_groups_look_through_wrappers_and_respect_the_limit():
    wrapper = Wrapper()
    assert parameter_groups(small_cnn()) == ["0", "2", "5"]
    assert parameter_groups(wrapper) == [
        "model.backbone (own parameters)", "model.backbone.0", "model.backbone.1", "model.backbone.2", "model.head",
    ]  # fmt: skip
    assert parameter_groups(wrapper, max_groups=4) == ["model.backbone", "model.head"]
    assert parameter_groups(wrapper, max_groups=1) == ["model"]  # the wrapper is looked through
    assert parameter_groups(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), max_groups=1) == ["<model>"]


def test_own_parameters_without_an_initialiser_are_redrawn():
    wrapper = Wrapper()

    def explain(model, images, targets):
        return images[:, :1] * model.model.backbone.scale

    images = torch.rand(2, 1, 8, 8)
    result = randomisation_check(wrapper, explain, images, torch.tensor([0, 1]), groups=["model.backbone"])
    assert result.steps == ("model.backbone",)
    assert wrapper.model.backbone.scale.item() == 1.0


def test_options_are_validated(trained):
    model, images, labels = trained
    with pytest.raises(ConfigError, match="unknown randomisation mode 'layerwise'"):
        randomisation_check(model, sobel, images, labels, mode="layerwise")
    with pytest.raises(ConfigError, match="unknown similarity measure 'pearson'"):
        randomisation_check(model, sobel, images, labels, measure="pearson")
    with pytest.raises(ConfigError, match="unknown parameter group 'fc'; use module names, e.g.: 0, 2, 5"):
        randomisation_check(model, sobel, images, labels, groups=["fc"])
    with pytest.raises(ConfigError, match="no parameters to randomise"):
        randomisation_check(nn.Identity(), sobel, images, labels)
    with pytest.raises(ConfigError, match="explain returned maps"):
        randomisation_check(model, lambda m, x, t: x[:, :, :8], images, labels)
