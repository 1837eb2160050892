import torch

from medattn.data.synthetic import make_lesion_dataset


def test_synthetic_lesions_are_reproducible_and_masks_mark_positives_only():
    x1, y1, m1 = make_lesion_dataset(32, 32, seed=3)
    x2, y2, m2 = make_lesion_dataset(32, 32, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and torch.equal(m1, m2)
    assert x1.shape == (32, 3, 32, 32) and x1.min() >= 0 and x1.max() <= 1
    assert m1[y1 == 0].sum() == 0 and (m1[y1 == 1].flatten(1).sum(1) > 0).all()
    lesion = x1[:, 0:1][m1.bool()].mean()
    background = x1[:, 0:1][~m1.bool()].mean()
    assert lesion > background + 0.2
