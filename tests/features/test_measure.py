import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medattn.data.synthetic import write_synthetic_dataset
from medattn.data.synthetic.markers import PALETTE
from medattn.data.synthetic.render import TINT
from medattn.features.measure import (
    FEATURES,
    IMAGE_FEATURES,
    LESION_FEATURES,
    MARKER_THRESHOLD,
    asymmetry,
    border_irregularity,
    colour_variegation,
    contrast,
    has_marker,
    intensity,
    lesion_area,
    marker_score,
    measure_dataset,
    measure_image,
    perimeter,
)


def disc(radius, size=64, centre=None):
    centre = ((size - 1) / 2, (size - 1) / 2) if centre is None else centre
    y, x = np.mgrid[:size, :size]
    return (y - centre[0]) ** 2 + (x - centre[1]) ** 2 <= radius**2


def ellipse(a, b, degrees=0.0, size=64):
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    t = math.radians(degrees)
    u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def t_shape():
    """A 16-pixel T: bar rows 0-1 x columns 0-3, stem rows 2-5 x columns 1-2 (in an 8 x 6 image)."""
    mask = np.zeros((8, 6), bool)
    mask[0:2, 0:4] = True
    mask[2:6, 1:3] = True
    return mask


def test_lesion_area_is_the_fraction_of_pixels():
    mask = np.zeros((4, 5), bool)
    mask[1, 1:4] = True
    assert lesion_area(mask) == 3 / 20
    assert lesion_area(np.zeros((4, 5), bool)) == 0.0


def test_asymmetry_of_a_t_by_hand():
    # Centroid (y, x) = (32 / 16, 1.5) = (2, 1.5); mu20 = 0.75 != mu02 = 3, mu11 = 0: the axes are the
    # image axes. The T is symmetric about x = 1.5. Reflected about y = 2 (y -> 4 - y) the bar lands on
    # rows 3-4 and the stem on rows -1..2: rows -1, 0, 1, 3, 4, 5 each differ in 2 pixels, row 2 in none,
    # so 12 / 16 = 0.75, and the mean over both axes is 0.375. Row -1 lies outside the image.
    mask = t_shape()
    assert asymmetry(mask) == pytest.approx(0.375)
    for variant in (np.rot90(mask), mask[::-1], np.pad(mask, 5)):
        assert asymmetry(variant) == pytest.approx(0.375)


def test_asymmetry_of_a_rotated_t_approaches_the_continuum_value():
    # The T above scaled 10 times and rotated: the continuum value is still 12 / 16 / 2 = 0.375.
    y, x = np.mgrid[:120, :120] - 60.0
    for degrees in (30, 45):
        t = math.radians(degrees)
        u = (x * math.cos(t) + y * math.sin(t)) / 10 + 2
        v = (-x * math.sin(t) + y * math.cos(t)) / 10 + 2.5
        mask = ((u >= 0) & (u < 4) & (v >= 0) & (v < 2)) | ((u >= 1) & (u < 3) & (v >= 2) & (v < 6))
        assert asymmetry(mask) == pytest.approx(0.375, abs=0.03)


def test_asymmetry_of_symmetric_shapes_is_zero():
    rectangle = np.zeros((30, 40), bool)
    rectangle[5:15, 3:30] = True
    assert asymmetry(rectangle) == 0.0
    assert asymmetry(disc(20)) == 0.0
    assert asymmetry(ellipse(25, 12)) == 0.0
    assert asymmetry(disc(20, centre=(31.3, 30.7))) < 0.03  # centroid off the grid: border pixels mismatch
    assert asymmetry(ellipse(25, 12, degrees=30)) < 0.05  # axes off the grid


def test_asymmetry_of_a_half_disc_matches_the_continuum():
    # Half disc of radius r on y >= 0: centroid 4r / (3 pi), symmetric about x = 0. Reflected about
    # y = ybar, the overlap at abscissa x is clip(min(h, 2 ybar) - max(0, 2 ybar - h)), h = sqrt(r^2 - x^2).
    r = 30.0
    x = np.linspace(-r, r, 200001)
    h, two_ybar = np.sqrt(r * r - x * x), 8 * r / (3 * math.pi)
    overlap = np.clip(np.minimum(h, two_ybar) - np.maximum(0, two_ybar - h), 0, None).mean() * 2 * r
    area = math.pi * r * r / 2
    expected = (0 + 2 * (area - overlap) / area) / 2  # mean over the symmetry axis and the other one
    y, xs = np.mgrid[:40, :80]
    mask = ((y + 0.5) ** 2 + (xs - 39.5) ** 2 <= r * r) & (y >= 0)
    assert asymmetry(mask) == pytest.approx(expected, abs=0.02)


def test_asymmetry_of_an_empty_mask_is_nan():
    assert math.isnan(asymmetry(np.zeros((5, 5), bool)))


def test_perimeter_of_a_single_pixel_by_hand():
    # Every direction k has one line through the pixel, crossing out-in-out: N_k = 2, so
    # P = 1/2 sum_k w_k * 2 / |k|.
    expected = 2 * math.atan(1 / 2) + 2 * math.atan(1 / 3) / math.sqrt(2) + 4 * (math.pi / 8) / math.sqrt(5)
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    assert perimeter(mask) == pytest.approx(expected)
    assert perimeter(np.ones((1, 1), bool)) == pytest.approx(expected)  # the image border counts as outside


def test_perimeter_and_compactness_of_a_square_by_hand():
    # Side n: 2n crossings along rows and columns, 2(2n - 1) along each diagonal, 2(3n - 2) along each
    # (2, 1)-type direction.
    n = 40
    mask = np.zeros((n + 8, n + 8), bool)
    mask[4:-4, 4:-4] = True
    expected = 0.5 * (
        2 * math.atan(1 / 2) * 2 * n
        + 2 * math.atan(1 / 3) * 2 * (2 * n - 1) / math.sqrt(2)
        + 4 * (math.pi / 8) * 2 * (3 * n - 2) / math.sqrt(5)
    )
    assert perimeter(mask) == pytest.approx(expected)
    assert perimeter(mask) == pytest.approx(4 * n, rel=0.03)  # the estimator's bias on straight edges
    assert border_irregularity(mask) == pytest.approx(expected**2 / (4 * math.pi * n * n))
    assert border_irregularity(mask) == pytest.approx(4 / math.pi, rel=0.06)


def test_compactness_of_a_disc_is_one():
    for centre in ((31.5, 31.5), (31.0, 31.0), (31.3, 30.8)):
        assert border_irregularity(disc(20, centre=centre)) == pytest.approx(1.0, abs=0.02)
    # Ellipse of semi-axes 25 and 12: Ramanujan's perimeter pi (3 (a + b) - sqrt((3a + b)(a + 3b))).
    a, b = 25, 12
    ramanujan = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
    assert border_irregularity(ellipse(a, b)) == pytest.approx(ramanujan**2 / (4 * math.pi * math.pi * a * b), rel=0.02)


def test_compactness_of_a_star_is_high():
    # r(theta) = 18 (1 + 0.4 cos 8 theta): P = int sqrt(r^2 + r'^2), A = 1/2 int r^2 (numerically).
    theta = np.linspace(0, 2 * math.pi, 100001)[:-1]
    radius, slope = 18 * (1 + 0.4 * np.cos(8 * theta)), -18 * 3.2 * np.sin(8 * theta)
    p, a = np.hypot(radius, slope).mean() * 2 * math.pi, 0.5 * (radius**2).mean() * 2 * math.pi
    y, x = np.mgrid[:64, :64] - 31.5
    star = np.hypot(y, x) <= 18 * (1 + 0.4 * np.cos(8 * np.arctan2(y, x)))
    assert border_irregularity(star) > 4
    assert border_irregularity(star) == pytest.approx(p * p / (4 * math.pi * a), rel=0.12)
    assert math.isnan(border_irregularity(np.zeros((4, 4), bool)))


def test_colour_variegation_by_hand():
    mask = np.zeros((6, 8), bool)
    mask[1:5, 2:6] = True
    image = np.full((6, 8, 3), 0.5)
    image[mask] = (0.2, 0.4, 0.6)
    assert colour_variegation(image, mask) == pytest.approx(0.0)
    a, b = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.1, 0.7])
    image[1:5, 2:4], image[1:5, 4:6] = a, b
    assert colour_variegation(image, mask) == pytest.approx(np.linalg.norm(a - b) / 2)  # sqrt(0.64 + 0.36) / 2
    grey = np.zeros((6, 8))
    grey[1:5, 2:4], grey[1:5, 4:6] = 0.2, 0.6
    assert colour_variegation(grey, mask) == pytest.approx(0.2)
    assert math.isnan(colour_variegation(grey, np.zeros((6, 8), bool)))


def test_intensity_and_contrast_of_a_disc_on_a_background():
    mask = disc(10)
    rgb = np.where(mask[..., None], (0.9, 0.3, 0.3), (0.1, 0.1, 0.4))
    grey = np.where(mask, 0.7, 0.2)
    for image, lesion, background in ((rgb, 0.5, 0.2), (grey, 0.7, 0.2)):
        assert intensity(image, mask) == pytest.approx(lesion)
        assert contrast(image, mask) == pytest.approx(lesion - background)
    assert math.isnan(intensity(grey, np.zeros_like(mask)))


def test_contrast_ring_by_hand():
    # One lesion pixel and width 1: the ring is its 4 edge neighbours (diagonals are sqrt(2) away).
    image = np.zeros((9, 9))
    mask = np.zeros((9, 9), bool)
    mask[4, 4], image[4, 4] = True, 1.0
    image[3, 4], image[5, 4], image[4, 3], image[4, 5] = 0.1, 0.2, 0.3, 0.4
    image[3, 3] = image[6, 4] = 0.9  # outside the ring
    assert contrast(image, mask, width=1) == pytest.approx(1.0 - 0.25)
    # The default width at 9 px is 2: the 12 pixels within distance 2, of which 0.9 sits in two.
    expected = 1.0 - (0.1 + 0.2 + 0.3 + 0.4 + 0.9 + 0.9) / 12
    assert contrast(image, mask) == pytest.approx(expected)
    assert math.isnan(contrast(image, np.ones((9, 9), bool)))  # no background around the lesion


def test_marker_threshold_separates_the_synthetic_scans_from_every_marker_colour():
    background = 1.0 - float(TINT.min())  # chroma of a white pixel of a tinted scan
    markers = (PALETTE.max(dim=1).values - PALETTE.min(dim=1).values).min().item()
    assert background < MARKER_THRESHOLD < markers


def test_marker_score_of_hand_made_images():
    image = np.full((64, 64, 3), 0.3)
    assert marker_score(image) == 0.0
    assert marker_score(image[..., 0]) == 0.0  # grey image
    image[57:63, 2:8] = (0.15, 0.70, 0.25)  # a 6 px marker, 1 px from the bottom, 2 px from the left
    assert marker_score(image) == pytest.approx(0.55)
    assert has_marker(image)
    assert marker_score(image[..., :1]) == 0.0


@pytest.mark.parametrize("size", [32, 64])
def test_has_marker_agrees_with_the_synthetic_manifest(tmp_path, size):
    manifest = pd.read_csv(write_synthetic_dataset(tmp_path, n=200, size=size, seed=0, shortcut=0.9))
    table = measure_dataset([tmp_path / p for p in manifest["path"]], [tmp_path / p for p in manifest["mask"]])
    assert 0 < manifest["marker"].sum() < len(manifest)
    assert (table["marker"].to_numpy() == manifest["marker"].to_numpy()).all()
    lesion = (manifest["label"] == "lesion").to_numpy()
    assert table.loc[lesion, list(FEATURES)].notna().all().all()
    assert table.loc[~lesion, list(LESION_FEATURES)].isna().all().all()
    assert table.loc[~lesion, list(IMAGE_FEATURES)].notna().all().all()
    assert (table.loc[lesion, "contrast"] > 0).all()  # synthetic lesions are brighter than tissue


def test_measure_image_keys_and_empty_mask():
    image = np.full((32, 32, 3), 0.4)
    mask = disc(6, size=32)
    features = measure_image(image, mask)
    assert tuple(features) == FEATURES
    assert features["area"] == lesion_area(mask)
    assert features["marker"] == 0.0
    for empty in (np.zeros((32, 32), bool), None):
        features = measure_image(image, empty)
        assert tuple(features) == FEATURES
        assert all(math.isnan(features[name]) for name in LESION_FEATURES)
        assert features["marker"] == 0.0 and features["brightness"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="does not match"):
        measure_image(image, np.zeros((16, 32), bool))


def test_image_level_features_of_a_hand_made_scan():
    """A 40 x 20 (W x H) image: a quarter black background, the rest grey 0.6 -> brightness 0.45."""
    image = np.full((20, 40), 0.6)
    image[:, :10] = 0.0
    features = measure_image(image, None)
    assert features["brightness"] == pytest.approx(0.45)
    assert features["dark_fraction"] == pytest.approx(0.25)
    assert features["aspect_ratio"] == 2.0


def test_measure_dataset_reads_grey_rgb_and_16_bit_files(tmp_path):
    mask = disc(8, size=32)
    rgb = np.where(mask[..., None], np.array([200, 100, 0], np.uint8), np.uint8(50))
    Image.fromarray(rgb.astype(np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray((mask * 65535).astype(np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    paths = [tmp_path / name for name in ("rgb.png", "grey.png", "deep.png", "grey.png")]
    calls = []
    table = measure_dataset(paths, [tmp_path / "mask.png"] * 3 + [None], lambda *a: calls.append(a))
    assert list(table.columns) == ["path", *FEATURES]
    assert table["path"].tolist() == [str(p) for p in paths]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert table["intensity"].tolist()[:3] == pytest.approx([100 / 255, 1.0, 1.0])
    assert table["contrast"].tolist()[:3] == pytest.approx([(100 - 50) / 255, 1.0, 1.0])
    assert table.loc[0, "asymmetry"] == asymmetry(mask)
    assert table.iloc[3][list(LESION_FEATURES)].isna().all()
    with pytest.raises(ValueError, match="2 mask paths"):
        measure_dataset(paths, [None, None])
