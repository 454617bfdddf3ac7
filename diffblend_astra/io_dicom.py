"""DICOM series: a folder of single-frame slices ⇄ a float32 ``(Z, Y, X)`` volume.

Values are in the series' rescaled units (``RescaleSlope · stored + RescaleIntercept``, Hounsfield
units for CT). Reading needs ``pydicom``; decoding compressed transfer syntaxes may need
pydicom's optional pixel-data plug-ins.
"""

from pathlib import Path

import numpy as np

from .io_atomic import atomic_write
from .io_limits import MAX_ARRAY_BYTES, check_described_size
from .io_volumes import as_volume_array, import_optional

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
"""SOP class UID of the slices :func:`write_dicom_series` writes."""


def read_dicom_series(folder, *, max_bytes=MAX_ARRAY_BYTES):
    """Read the one DICOM series in ``folder`` as a float32 ``(Z, Y, X)`` volume.

    Every DICOM file with pixel data is a slice (files that are not DICOM, e.g. notes, and
    DICOM files without pixel data, e.g. a ``DICOMDIR``, are skipped; file names do not
    matter, but a ``.dcm`` file that cannot be read is an error). Slices are ordered by their
    ``ImagePositionPatient`` projected on the slice normal (``ImageOrientationPatient``),
    ascending; if any slice lacks those, by ``InstanceNumber``. The slices must be evenly
    spaced (to 1 %): a missing slice or uneven spacing is refused, naming the gap. Each slice
    is rescaled with its own ``RescaleSlope``/``RescaleIntercept`` (default 1 and 0). The
    float32 volume the headers describe must fit in ``max_bytes`` (checked before any pixel
    data is decoded; each slice's decoder checks its data against its header).

    Raises:
        NotADirectoryError: ``folder`` is not a folder.
        ValueError: no slices, a volume over ``max_bytes``, several series, multi-frame
            files, unreadable slices, slices of different ``(Rows, Columns)``, slices that
            cannot be ordered, share one position or are not evenly spaced (a missing
            slice).
    """
    pydicom = import_optional("pydicom")
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder holding one DICOM series, got {folder}")
    slices = [_read_slice(pydicom, file) for file in sorted(folder.iterdir())]
    slices = [ds for ds in slices if ds is not None]
    if not slices:
        raise ValueError(f"no DICOM slices with pixel data in {folder}")
    _check_one_series(slices, folder)
    shape = (len(slices), slices[0].Rows, slices[0].Columns)
    check_described_size(folder, shape, np.float32, max_bytes, max_bytes)
    positions = _positions(slices, folder)
    order = np.argsort(positions, kind="stable")
    _check_even_spacing(np.asarray(positions, dtype=np.float64)[order], folder)
    return np.stack([_rescaled(slices[i]) for i in order]).astype(np.float32)


def write_dicom_series(folder, volume, *, spacing=(1.0, 1.0, 1.0), dtype="uint16",
                       slope=None, intercept=None):
    """Write a ``(Z, Y, X)`` volume as a CT DICOM series, one file per axial slice, atomically.

    Slice ``z`` goes to ``slice_<z>.dcm`` with ``InstanceNumber = z + 1`` and
    ``ImagePositionPatient = (0, 0, z · spacing[0])`` on axial orientation, so
    :func:`read_dicom_series` returns the volume in the same order. Stored values are
    ``round((volume - intercept) / slope)`` in ``dtype``.

    Args:
        folder: the series folder; replaced as a whole if it exists.
        volume: ``(Z, Y, X)`` array or tensor in physical units (e.g. HU).
        spacing: voxel size ``(dz, dy, dx)`` in mm.
        dtype: stored pixel type, ``"uint16"`` or ``"int16"``.
        slope, intercept: the rescale written to every slice; give both or neither. Neither:
            chosen so the volume's range spans the whole ``dtype`` range (error ≤ slope / 2).
            Both are first rounded to DICOM's 16-character decimal strings.

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: bad ``spacing``/``dtype``/rescale, non-finite values, or values that do not
            fit ``dtype`` under the given rescale.
    """
    pydicom = import_optional("pydicom")
    volume = as_volume_array(volume, dtype=np.float64)
    if not np.all(np.isfinite(volume)):
        raise ValueError("volume must be finite to be stored as DICOM integers")
    stored_type = np.dtype(dtype)
    if stored_type not in (np.dtype(np.uint16), np.dtype(np.int16)):
        raise ValueError(f"dtype must be 'uint16' or 'int16', got {dtype!r}")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing must be three positive sizes (dz, dy, dx) in mm, got {spacing}")
    slope, intercept = _rescale(pydicom, volume, stored_type, slope, intercept)
    stored = np.round((volume - intercept) / slope)
    limits = np.iinfo(stored_type)
    if stored.min() < limits.min or stored.max() > limits.max:
        raise ValueError(
            f"volume range [{volume.min()}, {volume.max()}] does not fit {stored_type} with "
            f"slope {slope} and intercept {intercept}; increase the slope or let it be chosen"
        )
    header = _series_header(pydicom, volume.shape, spacing, stored_type, slope, intercept)
    width = len(str(volume.shape[0] - 1))
    folder = Path(folder)
    with atomic_write(folder) as tmp:
        tmp.mkdir()
        for z, pixels in enumerate(stored.astype(stored_type.newbyteorder("<"))):
            ds = _slice(pydicom, header, z, spacing[0], pixels)
            ds.save_as(tmp / f"slice_{z:0{width}d}.dcm", enforce_file_format=True)
    return folder


def _read_slice(pydicom, file):
    if file.name.startswith(".") or not file.is_file():
        return None
    try:
        ds = pydicom.dcmread(file)
    except pydicom.errors.InvalidDicomError:
        if file.suffix.lower() == ".dcm":
            raise ValueError(f"{file} is not a readable DICOM file; remove it or replace it "
                             "with the slice it should hold") from None
        return None
    except (EOFError, OSError, ValueError) as err:
        raise ValueError(f"{file} is not a readable DICOM file (truncated or corrupt?): "
                         f"{err}") from None
    if "PixelData" not in ds:
        if "Image Storage" in _sop_class(pydicom, ds).name:
            raise ValueError(f"{file} is an image slice without pixel data (truncated?); "
                             "remove it or replace it with the complete slice")
        return None
    if int(ds.get("NumberOfFrames") or 1) > 1:
        raise ValueError(f"{file} is a multi-frame DICOM file; expected one slice per file")
    return ds


def _sop_class(pydicom, ds):
    """The SOP class of ``ds`` from the dataset or its file meta information."""
    meta = getattr(ds, "file_meta", None) or {}
    uid = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or ""
    return pydicom.uid.UID(str(uid))


def _check_one_series(slices, folder):
    series = {ds.get("SeriesInstanceUID") for ds in slices}
    if len(series) > 1:
        raise ValueError(f"{folder} holds {len(series)} DICOM series; expected one per folder")
    shapes = {(ds.Rows, ds.Columns) for ds in slices}
    if len(shapes) > 1:
        raise ValueError(
            f"slices in {folder} have different (Rows, Columns): {sorted(shapes)}; "
            "expected one shape for the whole series"
        )


def _positions(slices, folder):
    """Each slice's coordinate along the series normal in mm, or its InstanceNumber."""
    if all(ds.get("ImagePositionPatient") and ds.get("ImageOrientationPatient") for ds in slices):
        orientation = np.asarray(slices[0].ImageOrientationPatient, dtype=np.float64)
        normal = np.cross(orientation[:3], orientation[3:])
        positions = [float(normal @ np.asarray(ds.ImagePositionPatient, np.float64))
                     for ds in slices]
    elif all(ds.get("InstanceNumber") is not None for ds in slices):
        positions = [int(ds.InstanceNumber) for ds in slices]
    else:
        raise ValueError(
            f"cannot order the slices in {folder}: each needs ImagePositionPatient and "
            "ImageOrientationPatient, or InstanceNumber"
        )
    if len(set(positions)) < len(positions):
        raise ValueError(
            f"several slices in {folder} share one position; expected one slice per position"
        )
    return positions


def _check_even_spacing(positions, folder, tolerance=0.01):
    """Refuse sorted slice ``positions`` that are not evenly spaced, naming the gap."""
    if len(positions) < 3:
        return
    steps = np.diff(positions)
    step = np.median(steps)
    uneven = np.flatnonzero(np.abs(steps - step) > tolerance * step)
    if uneven.size:
        i = uneven[0]
        missing = round(steps[i] / step) - 1
        what = (f"{missing} slice{'s' if missing > 1 else ''} missing" if missing >= 1
                and abs(steps[i] - (missing + 1) * step) <= tolerance * step
                else "uneven spacing")
        raise ValueError(
            f"the DICOM series in {folder} is not evenly spaced: {what} between the slices at "
            f"{positions[i]:g} and {positions[i + 1]:g} (step {steps[i]:g}; the others are "
            f"{step:g} apart); expected one slice per position, evenly spaced"
        )


def _rescaled(ds):
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    try:
        pixels = ds.pixel_array
    except (AttributeError, EOFError, NotImplementedError, OSError, RuntimeError,
            ValueError) as err:
        raise ValueError(f"the pixel data of {ds.filename} cannot be read (truncated, corrupt "
                         f"or an unsupported encoding): {err}") from None
    return (pixels.astype(np.float64) * (1.0 if slope is None else float(slope))
            + (0.0 if intercept is None else float(intercept)))


def _rescale(pydicom, volume, stored_type, slope, intercept):
    """(slope, intercept) as DICOM will store them: rounded to 16-character decimal strings."""
    if (slope is None) != (intercept is None):
        raise ValueError("give both slope and intercept, or neither")
    if slope is None:
        limits = np.iinfo(stored_type)
        low, high = float(volume.min()), float(volume.max())
        slope = (high - low) / (limits.max - limits.min) if high > low else 1.0
        intercept = low - limits.min * slope
    slope, intercept = (float(str(pydicom.valuerep.DSfloat(v, auto_format=True)))
                        for v in (slope, intercept))
    if not (np.isfinite(slope) and slope > 0 and np.isfinite(intercept)):
        raise ValueError(
            f"slope must be positive and intercept finite, got {slope} and {intercept}"
        )
    return slope, intercept


def _series_header(pydicom, shape, spacing, stored_type, slope, intercept):
    """The elements every slice of one series shares, by keyword."""
    uid = pydicom.uid.generate_uid
    return {
        "SOPClassUID": CT_IMAGE_STORAGE,
        "StudyInstanceUID": uid(),
        "SeriesInstanceUID": uid(),
        "FrameOfReferenceUID": uid(),
        "Modality": "CT",
        "ImageType": ["DERIVED", "SECONDARY", "AXIAL"],
        "ImageOrientationPatient": [1, 0, 0, 0, 1, 0],
        "PixelSpacing": [_ds(pydicom, spacing[1]), _ds(pydicom, spacing[2])],
        "SliceThickness": _ds(pydicom, spacing[0]),
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": shape[1],
        "Columns": shape[2],
        "BitsAllocated": 16,
        "BitsStored": 16,
        "HighBit": 15,
        "PixelRepresentation": int(stored_type.kind == "i"),
        "RescaleSlope": _ds(pydicom, slope),
        "RescaleIntercept": _ds(pydicom, intercept),
    }


def _slice(pydicom, header, z, dz, pixels):
    ds = pydicom.Dataset()
    ds.update(header)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = z + 1
    ds.ImagePositionPatient = [0, 0, _ds(pydicom, z * dz)]
    ds.PixelData = pixels.tobytes()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    return ds


def _ds(pydicom, value):
    return pydicom.valuerep.DSfloat(value, auto_format=True)
