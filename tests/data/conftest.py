from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BRAIN_MRI = Path(__file__).resolve().parents[3] / "shared" / "data" / "brain-tumor-mri"


def write_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)
