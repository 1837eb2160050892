"""Parameter and MAC counting conventions on toy models with hand-computed values."""

import torch
from torch import nn

from medattn.models.checks import counting_module_calls, explainer_problems
from medattn.models.summary import count_layer_params, count_macs, count_params


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)  # 3*4*9 + 4 = 112
        self.token = nn.Parameter(torch.zeros(5))  # free-standing: not a layer's weight
        self.fc = nn.Linear(4, 2)  # 10

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)) + self.token[:4])


def test_layer_summary_count_leaves_out_free_parameters():
    assert count_params(Toy()) == 127
    assert count_layer_params(Toy()) == 122


def test_trainable_count_follows_requires_grad():
    toy = Toy()
    toy.conv.requires_grad_(False)
    assert count_params(toy, trainable_only=True) == 15


def test_macs_are_hand_computable():
    # conv: 8*8 outputs x 4 channels x (3*3*3) MACs = 6912; linear 4*2 = 8.
    assert count_macs(Toy(), 8) == 6912 + 8


class Reuser(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.act(x) - 1)


def test_explainer_check_flags_reused_and_inplace_modules_and_cleans_up_hooks():
    problems = explainer_problems(Reuser(), torch.randn(2, 3))
    assert problems == ["act: in-place operation", "act: called 2 times in one forward"]
    model = Reuser()
    try:
        with counting_module_calls(model):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not model.act._forward_hooks
