"""The embedded default dataset: a synthetic lesion benchmark with exact ground truth.

Each image is a synthetic "scan": a body ellipse with a skin line, a brighter organ inside it,
smooth multi-scale tissue texture and a few bright vessel-like curves, rendered in grey and tinted
to RGB. A lesion image holds one lesion inside the organ, of a kind drawn per patient among
``LESION_KINDS`` (irregular, spiculated, low-contrast blob), and its exact binary mask; normal
images have an all-zero mask. Half of all images, whatever their label, also hold a benign
look-alike (a round, smooth, homogeneous cyst) that is never part of a mask.

- ``difficulty`` in [0, 1] sets contrast, lesion size, noise and texture linearly; the exact
  mapping is in ``difficulty_settings``.
- ``shortcut`` adds a coloured corner marker that agrees with the label with probability ``P`` in
  train/val and is random in test, to measure shortcut learning (``medattn.data.synthetic.markers``).
- Patients have 1-3 images sharing their anatomy, label and lesion kind; splits never cross them.
- Everything is drawn from the seed: the same arguments give bit-identical tensors and files
  (on the same machine and torch version).

``make_lesion_dataset`` returns tensors; ``write_synthetic_dataset`` writes PNG files and a
manifest for ``medattn.data.sources.csv_source``.

Deviations from real data worth knowing: lesions are always brighter than tissue, there is one at
most per image, and the marker never covers the organ.
"""

from medattn.data.synthetic.markers import CORRELATED_SPLITS
from medattn.data.synthetic.plan import Difficulty, difficulty_settings
from medattn.data.synthetic.render import SyntheticBatch, make_lesion_dataset
from medattn.data.synthetic.shapes import LESION_KINDS
from medattn.data.synthetic.writer import CLASSES, MANIFEST, write_synthetic_dataset

__all__ = [
    "CLASSES",
    "CORRELATED_SPLITS",
    "LESION_KINDS",
    "MANIFEST",
    "Difficulty",
    "SyntheticBatch",
    "difficulty_settings",
    "make_lesion_dataset",
    "write_synthetic_dataset",
]
