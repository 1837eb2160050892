import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image

from medattn.errors import ConfigError
from medattn.explain import figures
from medattn.explain.display import (
    denormalise,
    is_grayscale,
    normalise_columns,
    normalise_for_display,
    to_rgb,
)
from medattn.explain.figures import PANEL_INCHES, explanation_grid, mean_map_figure, overlay

H = W = 32


def test_shared_abs_divides_by_percentile_of_abs_over_all_maps():
    maps = np.array([[[-1.0, 4.0]], [[2.0, -3.0]]])  # |values| 1, 4, 2, 3: P50 = 2.5
    out, scale = normalise_for_display(maps, "shared-abs", percentile=50)
    np.testing.assert_allclose(out, [[[-0.4, 1.0]], [[0.8, -1.0]]], rtol=1e-6)  # 1.6 and -1.2 clipped
    assert (scale.scheme, scale.scale, scale.signed, scale.vmin) == ("shared-abs", 2.5, True, -1.0)
    assert scale.cmap == "RdBu_r" and "P50" in scale.label() and "2.5" in scale.label()


def test_shared_positive_keeps_the_positive_part():
    maps = np.array([[[[-2.0, 1.0]]], [[[3.0, 0.0]]]])  # [N, 1, H, W]
    out, scale = normalise_for_display(maps, "shared-positive", percentile=100)
    assert out.shape == (2, 1, 2)
    np.testing.assert_allclose(out, [[[0, 1 / 3]], [[1, 0]]], rtol=1e-6)
    assert (scale.scale, scale.signed, scale.vmin, scale.cmap) == (3.0, False, 0.0, "inferno")


def test_per_map_scales_each_map_alone_and_says_so():
    out, scale = normalise_for_display(np.array([[[1.0, 2.0]], [[10.0, 20.0]]]), "per-map", percentile=100)
    np.testing.assert_allclose(out, [[[0.5, 1.0]], [[0.5, 1.0]]])
    assert scale.scale == (2.0, 20.0) and not scale.signed
    assert "not comparable" in scale.label()
    signed, signed_scale = normalise_for_display(np.array([[[-1.0, 2.0]], [[10.0, 20.0]]]), "per-map", 100)
    np.testing.assert_allclose(signed[0, 0], [-0.5, 1.0])
    assert signed_scale.signed and signed_scale.cmap == "RdBu_r"


def test_all_zero_maps_stay_zero():
    out, scale = normalise_for_display(np.zeros((2, 4, 4)), "shared-abs")
    assert not out.any() and scale.scale == 1.0


@pytest.mark.parametrize(
    ("maps", "scheme", "percentile", "message"),
    [
        (np.ones((1, 4, 4)), "minmax", 99.5, "unknown display scheme 'minmax'; choose one of: shared-abs, "),
        (np.ones((1, 4, 4)), "per-map", 0, "percentile must be in (0, 100]"),
        (np.ones((4, 4)), "per-map", 99, "shape [N, 1, H, W] or [N, H, W]"),
        (np.full((1, 4, 4), np.nan), "per-map", 99, "NaN or infinite"),
    ],
)
def test_normalise_rejects_bad_input_in_one_line(maps, scheme, percentile, message):
    with pytest.raises(ConfigError) as error:
        normalise_for_display(maps, scheme, percentile)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_normalise_columns_shares_one_scale_across_columns():
    columns = {"small": np.full((2, 3, 3), 1.0), "large": np.full((2, 3, 3), 4.0)}
    out, scale = normalise_columns(columns, "shared-positive", percentile=100)
    assert list(out) == ["small", "large"] and scale.scale == 4.0
    np.testing.assert_allclose(out["small"], 0.25)
    np.testing.assert_allclose(out["large"], 1.0)
    with pytest.raises(ConfigError, match="same shape"):
        normalise_columns({"a": np.ones((2, 3, 3)), "b": np.ones((1, 3, 3))}, "shared-abs")


def test_denormalise_round_trips_a_normalised_batch():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 3, H, W))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    normalised = (images - mean[None, :, None, None]) / std[None, :, None, None]
    restored = denormalise(torch.from_numpy(normalised), mean, std)
    assert restored.shape == (2, H, W, 3)
    np.testing.assert_allclose(restored, images.transpose(0, 2, 3, 1), atol=1e-6)
    with pytest.raises(ConfigError, match="mean has 2 values, the images have 3 channels"):
        denormalise(normalised, [0.5, 0.5], [0.5])


def test_equal_channel_images_are_shown_grey():
    gray = np.random.default_rng(0).uniform(size=(H, W, 1))
    rgb = to_rgb(np.repeat(gray, 3, axis=-1) + np.array([0, 1e-4, -1e-4]))  # denormalisation noise
    assert is_grayscale(rgb) and np.array_equal(rgb[..., 0], rgb[..., 2])
    assert is_grayscale(gray) and to_rgb(gray).shape == (H, W, 3)
    assert not is_grayscale(np.stack([gray[..., 0], gray[..., 0], 1 - gray[..., 0]], -1))


def test_overlay_leaves_the_image_where_heat_is_zero_and_blends_alpha_at_full_heat():
    gray = np.random.default_rng(1).uniform(size=(H, W, 1))
    heat = np.zeros((H, W))
    heat[:8, :8] = 1.0
    heat[8:16, :8] = 0.5
    out = overlay(gray, heat, "inferno", alpha=0.5)
    base = np.repeat(gray, 3, axis=-1)
    np.testing.assert_array_equal(out[16:], base[16:])  # zero heat: exactly the (grey) image
    assert np.array_equal(out[16:, :, 0], out[16:, :, 1])
    full = 0.5 * base[:8, :8] + 0.5 * np.array(colormaps["inferno"](1.0)[:3])
    np.testing.assert_allclose(out[:8, :8], full)
    half = 0.75 * base[8:16, :8] + 0.25 * np.array(colormaps["inferno"](0.5)[:3])
    np.testing.assert_allclose(out[8:16, :8], half)


def test_signed_overlay_maps_minus_one_to_the_low_end_of_the_colour_map():
    image = np.full((2, 2, 3), 0.5)
    out = overlay(image, np.full((2, 2), -1.0), "RdBu_r", alpha=1.0, signed=True)
    np.testing.assert_allclose(out[0, 0], colormaps["RdBu_r"](0.0)[:3])
    with pytest.raises(ConfigError, match="upsample the map first"):
        overlay(image, np.zeros((4, 4)), "RdBu_r")


@pytest.fixture
def grid_inputs():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, H, W, 3))
    images[0] = images[0, :, :, :1]  # a grey row
    raw = {"ResNet-18 / Grad-CAM": rng.normal(size=(2, H, W)), "ResNet-18+CBAM / Grad-CAM": rng.normal(size=(2, H, W))}
    maps, scale = normalise_columns(raw, "shared-abs")
    return images, maps, scale


def test_grid_writes_png_and_pdf_of_the_expected_size(tmp_path, grid_inputs):
    images, maps, scale = grid_inputs
    paths = explanation_grid(images, maps, tmp_path / "grid", row_titles=["a.png", "b.png"], scale=scale, dpi=50)
    assert [p.name for p in paths] == ["grid.png", "grid.pdf"]
    with Image.open(paths[0]) as png:
        size, description = png.size, png.info["Description"]
    n_rows, n_cols = 2, 3
    assert size == (round(PANEL_INCHES * n_cols * 50), round((PANEL_INCHES * n_rows + 0.9) * 50))
    assert "shared-abs" in description and "P99.5" in description
    pdf = paths[1].read_bytes()
    assert pdf.startswith(b"%PDF") and b"shared-abs" in pdf
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.pdf", "grid.png"]  # no temporary files left


def test_titles_from_data_are_plain_text(tmp_path, grid_inputs):
    images, maps, scale = grid_inputs
    hostile = r"$\frac{$ x_1 <script>alert(1)</script>"
    # The same text crashes matplotlib's mathtext when parsed, so this test can fail.
    probe = Figure()
    figures.FigureCanvasAgg(probe)
    probe.suptitle(hostile)
    with pytest.raises(ValueError):
        probe.savefig(tmp_path / "probe.png")
    columns = {hostile: maps["ResNet-18 / Grad-CAM"], "cost_$5_a_b": maps["ResNet-18+CBAM / Grad-CAM"]}
    paths = explanation_grid(
        images, columns, tmp_path / "g", row_titles=[hostile, "x" * 200], scale=scale, formats=["png"], title=hostile
    )
    assert paths[0].stat().st_size > 0


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path, grid_inputs, monkeypatch):
    images, maps, scale = grid_inputs

    def broken_savefig(self, fname, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        explanation_grid(images, maps, tmp_path / "grid", row_titles=["a", "b"], scale=scale)
    assert list(tmp_path.iterdir()) == []


def test_grid_rejects_bad_input(tmp_path, grid_inputs):
    images, maps, scale = grid_inputs
    with pytest.raises(ConfigError, match="unknown figure format 'jpg'; choose one of: png, pdf, svg"):
        explanation_grid(images, maps, tmp_path / "g", row_titles=["a", "b"], scale=scale, formats=["jpg"])
    with pytest.raises(ConfigError, match="1 row titles for 2 images"):
        explanation_grid(images, maps, tmp_path / "g", row_titles=["a"], scale=scale)
    with pytest.raises(ConfigError, match="column 'bad'"):
        explanation_grid(images, {"bad": np.zeros((2, 8, 8))}, tmp_path / "g", row_titles=["a", "b"], scale=scale)


def test_mean_map_figure_names_n_in_each_panel(tmp_path):
    rng = np.random.default_rng(0)
    mean_maps, scale = normalise_for_display(rng.uniform(size=(3, H, W)), "shared-positive")
    names = ["ResNet-18", "ResNet-18+GA", "ViT"]
    paths = mean_map_figure(dict(zip(names, mean_maps, strict=True)), tmp_path / "mean", scale, n_images=500, dpi=40)
    with Image.open(paths[0]) as png:
        assert png.size == (round(PANEL_INCHES * 3 * 40), round((PANEL_INCHES + 1.1) * 40))
    with pytest.raises(ConfigError, match="no count for model"):
        mean_map_figure(dict(zip(names, mean_maps, strict=True)), tmp_path / "m", scale, n_images={"ViT": 5})


def test_figures_leave_pyplot_alone(tmp_path, grid_inputs):
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    images, maps, scale = grid_inputs
    explanation_grid(images, maps, tmp_path / "g", row_titles=["a", "b"], scale=scale, formats=["png"], dpi=30)
    assert plt.get_fignums() == before
