import sys

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import FileDataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid  # noqa: E402

from medattn.data.dicom import read_dicom  # noqa: E402
from medattn.data.images import read_image  # noqa: E402
from medattn.data.records import DataError  # noqa: E402

RAMP = [[0.0, 0.25], [0.5, 1.0]]


def write_dicom(path, pixels=None, *, photometric="MONOCHROME2", bits_stored=None, frames=1, **elements):
    """A minimal Part-10 file (explicit VR little endian); ``pixels`` None leaves out pixel data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    if pixels is not None:
        pixels = np.ascontiguousarray(pixels)
        colour = photometric == "RGB"
        ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
        ds.SamplesPerPixel = 3 if colour else 1
        if colour:
            ds.PlanarConfiguration = 0
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated = pixels.dtype.itemsize * 8
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = int(pixels.dtype.kind == "i")
        ds.PixelData = pixels.tobytes()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("stored", "bits"),
    [
        (np.array([[0, 50], [100, 200]], np.uint8), 8),
        (np.array([[0, 1000], [2000, 4000]], np.uint16), 12),
        (np.array([[100, 16100], [32100, 64100]], np.uint16), 16),
        (np.array([[-1000, 0], [1000, 3000]], np.int16), 16),
    ],
)
def test_stored_values_of_any_depth_are_min_max_scaled_without_a_window(tmp_path, stored, bits):
    image = read_dicom(write_dicom(tmp_path / "a.dcm", stored, bits_stored=bits))
    assert image.dtype == np.float32 and image.shape == (2, 2, 1)
    np.testing.assert_allclose(image[..., 0], RAMP, atol=1e-6)


def test_monochrome1_is_inverted_so_bright_means_dense(tmp_path):
    stored = np.array([[0, 1000], [2000, 4000]], np.uint16)
    image = read_dicom(write_dicom(tmp_path / "a.dcm", stored, photometric="MONOCHROME1", bits_stored=12))
    np.testing.assert_allclose(image[..., 0], 1.0 - np.array(RAMP), atol=1e-6)


@pytest.mark.parametrize(("center", "width"), [("0.5", "2049"), (["0.5", "40"], ["2049", "400"])])
def test_rescale_then_first_window_uses_the_dicom_linear_function(tmp_path, center, width):
    # stored * 2 - 1024 = [-1024, -512, 0, 1024] HU; window (0.5, 2049): y = x / 2048 + 0.5
    stored = np.array([[0, 256], [512, 1024]], np.uint16)
    path = write_dicom(
        tmp_path / "ct.dcm",
        stored,
        RescaleSlope="2",
        RescaleIntercept="-1024",
        WindowCenter=center,
        WindowWidth=width,
    )
    np.testing.assert_allclose(read_dicom(path)[..., 0], RAMP, atol=1e-6)


def test_window_clips_values_outside_it(tmp_path):
    stored = np.array([[0, 90], [110, 4000]], np.uint16)
    path = write_dicom(tmp_path / "a.dcm", stored, WindowCenter="100.5", WindowWidth="21")
    # y = (x - 100) / 20 + 0.5: 0 -> 0 (clipped), 90 -> 0, 110 -> 1, 4000 -> 1 (clipped)
    np.testing.assert_allclose(read_dicom(path)[..., 0], [[0.0, 0.0], [1.0, 1.0]], atol=1e-6)


def test_constant_image_without_window_is_all_zero(tmp_path):
    image = read_dicom(write_dicom(tmp_path / "a.dcm", np.full((3, 4), 7, np.uint16)))
    assert image.shape == (3, 4, 1) and not image.any()


def test_rgb_dicom_gives_three_channels(tmp_path):
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[0, 0] = (255, 0, 51)
    image = read_dicom(write_dicom(tmp_path / "rgb.dcm", pixels, photometric="RGB"))
    assert image.shape == (2, 3, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image[0, 0], [1.0, 0.0, 0.2], atol=1e-6)
    assert image[1:].max() == 0


def test_multi_frame_is_refused(tmp_path):
    path = write_dicom(tmp_path / "cine.dcm", np.zeros((3, 4, 4), np.uint8), frames=3)
    with pytest.raises(DataError, match=r"cine\.dcm: multi-frame DICOM \(3 frames\) is not supported; export single"):
        read_dicom(path)


def test_file_without_pixel_data_is_refused(tmp_path):
    path = write_dicom(tmp_path / "sr.dcm")
    with pytest.raises(DataError, match=r"sr\.dcm: DICOM has no pixel data$"):
        read_dicom(path)


def test_unreadable_file_is_a_one_line_error_through_read_image(tmp_path):
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"not a dicom file at all")
    with pytest.raises(DataError, match=r"junk\.dcm: not a readable DICOM file \(") as info:
        read_image(str(path))
    assert "\n" not in str(info.value)


def test_read_image_dispatches_on_the_dicm_magic_without_suffix(tmp_path):
    path = write_dicom(tmp_path / "IM0001", np.array([[0, 10], [20, 40]], np.uint8))
    np.testing.assert_allclose(read_image(str(path))[..., 0], RAMP, atol=1e-6)


def test_unsupported_photometric_interpretation_is_named(tmp_path):
    path = write_dicom(tmp_path / "pal.dcm", np.zeros((2, 2), np.uint8), photometric="PALETTE COLOR")
    with pytest.raises(DataError, match="photometric interpretation PALETTE COLOR is not supported"):
        read_dicom(path)


def test_missing_pydicom_names_the_extra(tmp_path, monkeypatch):
    path = write_dicom(tmp_path / "a.dcm", np.zeros((2, 2), np.uint8))
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(DataError, match=r"a\.dcm: reading DICOM needs pydicom \(pip install 'medattn\[dicom\]'\)"):
        read_dicom(path)
