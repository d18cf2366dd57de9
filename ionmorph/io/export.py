"""Files other tools open: ion-image stacks (.npy, TIFF) and a reduced imzML of the picked peaks.

- :func:`save_ion_images`: an (n, H, W) float32 stack as ``.npy``, or as a multi-page float32
  ``.tif``/``.tiff`` (with tifffile when installed, else Pillow); unmeasured pixels are 0.
- :func:`write_reduced_imzml`: a continuous imzML 1.1 file, valid against the mzML 1.1 schema,
  whose shared m/z axis is the given peaks and whose intensity at each peak is the pixel's
  ion-image value (the sum within +/- ppm); pixels keep their original imzML x/y and the source's
  pixel size, polarity and instrument are carried over, so METASPACE, Cardinal, SCiLS, OpenMS or
  pyimzML read it like any centroided peak list.

Every writer checks its output with :func:`ionmorph.fileio.check_output` (never onto an input,
never over a file it did not write unless ``overwrite``) and writes atomically.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..fileio import atomic_path, check_output

IMAGE_SUFFIXES: tuple[str, ...] = (".npy", ".tif", ".tiff")


def _stack(images: np.ndarray) -> np.ndarray:
    stack = np.asarray(images, dtype=np.float32)
    if stack.ndim != 3 or len(stack) == 0:
        raise InputError(f"ion images must be a non-empty (n, H, W) stack, got shape {stack.shape}")
    return stack


def save_ion_images(images: np.ndarray, path: str | os.PathLike, *, inputs: Sequence[Any] = (),
                    overwrite: bool = False) -> Path:
    """Write an ion-image stack to ``path`` (.npy, or multi-page .tif/.tiff); returns the path.

    ``inputs``: the files the images came from (the output may not be one of them).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: ion images are written as {', '.join(IMAGE_SUFFIXES)}")
    stack = _stack(images)
    check_output(path, inputs, force=overwrite)
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, stack)
        else:
            _write_tiff(tmp, stack)
    return path


def _write_tiff(path: Path, stack: np.ndarray) -> None:
    """Multi-page float32 TIFF: tifffile when installed, else Pillow (mode ``F`` pages)."""
    try:
        import tifffile
    except ImportError:
        tifffile = None
    if tifffile is not None:
        tifffile.imwrite(path, stack, photometric="minisblack")   # one page per image, never RGB samples
        return
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("TIFF output needs tifffile or Pillow: pip install tifffile (or write .npy)") from None
    pages = [Image.fromarray(np.ascontiguousarray(page), mode="F") for page in stack]
    pages[0].save(path, format="TIFF", save_all=True, append_images=pages[1:])


#: The controlled vocabularies an imzML file refers to (``<cvList>``; ``URI`` as the mzML 1.1 schema spells it).
_CV_LIST = (
    ("MS", "Proteomics Standards Initiative Mass Spectrometry Ontology", "4.1.0",
     "https://raw.githubusercontent.com/hupo-psi/psi-ms-cv/master/psi-ms.obo"),
    ("UO", "Units of Measurement Ontology", "releases/2017-09-25", "http://ontologies.berkeleybop.org/uo.obo"),
    ("IMS", "Mass Spectrometry Imaging Ontology", "1.1.0",
     "https://raw.githubusercontent.com/imzML/imzML/master/imagingMS.obo"),
)
_POLARITY_PARAMS = {"positive": ("MS:1000130", "positive scan"), "negative": ("MS:1000129", "negative scan")}


def xml_id(text: str, fallback: str = "run") -> str:
    """``text`` made a valid XML name (NCName), as mzML wants for ids: characters other than letters,
    digits, ``_``, ``-`` and ``.`` become ``_``, and a name that does not start with a letter or ``_``
    gets ``fallback`` in front.

    >>> xml_id("barley top10")
    'barley_top10'
    >>> xml_id("101_peaks")
    'run_101_peaks'
    """
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"{fallback}_{name}"


def _cv(ref: str, accession: str, name: str, value: Any = None, unit: tuple[str, str, str] | None = None) -> str:
    from xml.sax.saxutils import quoteattr

    out = f'<cvParam cvRef="{ref}" accession="{accession}" name={quoteattr(name)}'
    if value is not None:
        out += f" value={quoteattr(str(value))}"
    if unit is not None:
        out += f' unitCvRef="{unit[0]}" unitAccession="{unit[1]}" unitName="{unit[2]}"'
    return out + "/>"


def _imzml_header(run_id: str, uuid: str, sha1: str, n_spectra: int, extent: tuple[int, int],
                  pixel_size_um: tuple[float, float] | None, polarity: str | None, instrument: str | None,
                  normalisation: str | None = None) -> str:
    """Everything of a reduced continuous centroid imzML before its first ``<spectrum>``."""
    from xml.sax.saxutils import quoteattr

    from .. import __version__

    um = ("UO", "UO:0000017", "micrometer")
    spectrum_params = [_cv("MS", "MS:1000579", "MS1 spectrum"), _cv("MS", "MS:1000511", "ms level", 1),
                       _cv("MS", "MS:1000127", "centroid spectrum")]
    if polarity in _POLARITY_PARAMS:
        spectrum_params.append(_cv("MS", *_POLARITY_PARAMS[polarity]))
    settings = [_cv("IMS", "IMS:1000042", "max count of pixels x", extent[0]),
                _cv("IMS", "IMS:1000043", "max count of pixels y", extent[1])]
    if pixel_size_um is not None:
        px, py = pixel_size_um
        settings += [_cv("IMS", "IMS:1000044", "max dimension x", f"{extent[0] * px:g}", um),
                     _cv("IMS", "IMS:1000045", "max dimension y", f"{extent[1] * py:g}", um),
                     _cv("IMS", "IMS:1000046", "pixel size (x)", f"{px:g}", um),
                     _cv("IMS", "IMS:1000047", "pixel size y", f"{py:g}", um)]
    model = (_cv("MS", "MS:1000031", "instrument model", instrument) if instrument
             else _cv("MS", "MS:1000031", "instrument model"))
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<mzML xmlns="http://psi.hupo.org/ms/mzml" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://psi.hupo.org/ms/mzml http://psidev.info/files/ms/mzML/xsd/mzML1.1.0.xsd" '
        'version="1.1">',
        f'  <cvList count="{len(_CV_LIST)}">',
        *(f'    <cv id="{i}" fullName={quoteattr(f)} version="{v}" URI="{u}"/>' for i, f, v, u in _CV_LIST),
        "  </cvList>",
        "  <fileDescription>",
        "    <fileContent>",
        "      " + _cv("MS", "MS:1000579", "MS1 spectrum"),
        "      " + _cv("MS", "MS:1000127", "centroid spectrum"),
        "      " + _cv("IMS", "IMS:1000080", "universally unique identifier", uuid),
        "      " + _cv("IMS", "IMS:1000091", "ibd SHA-1", sha1),
        "      " + _cv("IMS", "IMS:1000030", "continuous"),
        "    </fileContent>",
        "  </fileDescription>",
        '  <referenceableParamGroupList count="3">',
        '    <referenceableParamGroup id="mzArray">',
        "      " + _cv("MS", "MS:1000576", "no compression"),
        "      " + _cv("MS", "MS:1000514", "m/z array", unit=("MS", "MS:1000040", "m/z")),
        "      " + _cv("IMS", "IMS:1000101", "external data", "true"),
        "      " + _cv("MS", "MS:1000523", "64-bit float"),
        "    </referenceableParamGroup>",
        '    <referenceableParamGroup id="intensityArray">',
        "      " + _cv("MS", "MS:1000576", "no compression"),
        "      " + _cv("MS", "MS:1000515", "intensity array", unit=("MS", "MS:1000131", "number of detector counts")),
        "      " + _cv("IMS", "IMS:1000101", "external data", "true"),
        "      " + _cv("MS", "MS:1000521", "32-bit float"),
        "    </referenceableParamGroup>",
        '    <referenceableParamGroup id="spectrum1">',
        *("      " + p for p in spectrum_params),
        "    </referenceableParamGroup>",
        "  </referenceableParamGroupList>",
        '  <softwareList count="1">',
        f'    <software id="ionmorph" version={quoteattr(__version__)}>',
        "      " + _cv("MS", "MS:1000799", "custom unreleased software tool", "ionmorph"),
        "    </software>",
        "  </softwareList>",
        '  <scanSettingsList count="1">',
        '    <scanSettings id="scansettings1">',
        *("      " + p for p in settings),
        "    </scanSettings>",
        "  </scanSettingsList>",
        '  <instrumentConfigurationList count="1">',
        '    <instrumentConfiguration id="IC1">',
        "      " + model,
        "    </instrumentConfiguration>",
        "  </instrumentConfigurationList>",
        '  <dataProcessingList count="1">',
        '    <dataProcessing id="ionmorph_export">',
        '      <processingMethod order="1" softwareRef="ionmorph">',
        "        " + _cv("MS", "MS:1000035", "peak picking"),
        *(["        " + _cv("MS", "MS:1001484", "intensity normalization"),
           f'        <userParam name="ionmorph normalisation" value={quoteattr(normalisation)} type="xsd:string"/>']
          if normalisation not in (None, "none") else []),
        "      </processingMethod>",
        "    </dataProcessing>",
        "  </dataProcessingList>",
        f'  <run defaultInstrumentConfigurationRef="IC1" id="{run_id}">',
        f'    <spectrumList count="{n_spectra}" defaultDataProcessingRef="ionmorph_export">',
    ]
    return "\n".join(lines) + "\n"


def _spectrum_xml(index: int, x: int, y: int, n: int, mz_offset: int, offset: int, tic: float) -> str:
    """One ``<spectrum>`` of the reduced imzML: the shared m/z array, this pixel's intensities."""
    return (
        f'      <spectrum id="Scan={index + 1}" defaultArrayLength="0" index="{index}">\n'
        '        <referenceableParamGroupRef ref="spectrum1"/>\n'
        f'        {_cv("MS", "MS:1000285", "total ion current", f"{tic:.9g}")}\n'
        '        <scanList count="1">\n'
        f'          {_cv("MS", "MS:1000795", "no combination")}\n'
        '          <scan instrumentConfigurationRef="IC1">\n'
        f'            {_cv("IMS", "IMS:1000050", "position x", x)}\n'
        f'            {_cv("IMS", "IMS:1000051", "position y", y)}\n'
        "          </scan>\n"
        "        </scanList>\n"
        '        <binaryDataArrayList count="2">\n'
        + "".join(
            f'          <binaryDataArray encodedLength="0">\n'
            f'            <referenceableParamGroupRef ref="{ref}"/>\n'
            f'            {_cv("IMS", "IMS:1000103", "external array length", n)}\n'
            f'            {_cv("IMS", "IMS:1000104", "external encoded length", n * size)}\n'
            f'            {_cv("IMS", "IMS:1000102", "external offset", off)}\n'
            "            <binary/>\n"
            "          </binaryDataArray>\n"
            for ref, size, off in (("mzArray", 8, mz_offset), ("intensityArray", 4, offset)))
        + "        </binaryDataArrayList>\n"
        "      </spectrum>\n")


def write_reduced_imzml(path: str | os.PathLike, images: np.ndarray, mz: Sequence[float] | np.ndarray,
                        xy: np.ndarray, coords: np.ndarray, *, polarity: str | None = None,
                        pixel_size_um: tuple[float, float] | None = None, instrument: str | None = None,
                        normalisation: str | None = None, inputs: Sequence[Any] = (),
                        overwrite: bool = False) -> Path:
    """Write the ion images of peaks ``mz`` as a continuous centroid imzML (+ .ibd); returns the .imzML path.

    The file is valid imzML 1.1 (mzML 1.1 schema: OpenMS's ``ImzMLFile().isValid`` accepts it):
    the run id is a valid XML name made from the file name (:func:`xml_id`; never a local path),
    spectra are indexed from 0, every reference is declared. m/z are 64-bit, intensities 32-bit floats.

    Parameters
    ----------
    path : path-like
        The ``.imzML`` file to write (the ``.ibd`` goes beside it).
    images : float32 (n, H, W)
        One ion image per peak, on the raster of ``coords``.
    mz : sequence of float (n,)
        The peaks (any order; the file's axis is ascending).
    xy : int (n_pixels, 2)
        Original imzML (x, y) of each measured pixel.
    coords : int (n_pixels, 2)
        Raster (row, col) of the same pixels.
    polarity : {"positive", "negative"}, optional
        Written into the file when known.
    pixel_size_um : (float, float), optional
        Pixel size (x, y) in micrometres, written when known.
    instrument : str, optional
        The source's instrument model, written when known.
    normalisation : {"tic", "rms"}, optional
        How the images were normalised (:mod:`ionmorph.io.normalisation`), written into the data
        processing as PSI-MS "intensity normalization" and the userParam ``ionmorph normalisation``;
        None or ``"none"`` writes nothing.
    inputs : sequence of path-like
        The files the images came from (never overwritten).
    overwrite : bool
        Replace an existing file that is not an earlier output.
    """
    import hashlib
    import uuid as uuid_module

    path = Path(path)
    if path.suffix.lower() != ".imzml":
        raise InputError(f"{path}: a reduced imzML needs the .imzML suffix")
    stack = _stack(images)
    peaks = np.asarray(mz, dtype=np.float64).ravel()
    if len(peaks) != len(stack):
        raise InputError(f"{len(peaks)} m/z values for {len(stack)} ion images")
    order = np.argsort(peaks, kind="stable")
    if np.any(np.diff(peaks[order]) <= 0):
        raise InputError("the peaks of a reduced imzML must be distinct m/z values")
    ibd = path.with_suffix(".ibd")
    for out in (path, ibd):
        check_output(out, inputs, force=overwrite)
    rows, cols = np.asarray(coords).T
    values = np.ascontiguousarray(stack[order][:, rows, cols].T, dtype="<f4")   # (n_pixels, n_peaks)
    axis = peaks[order].astype("<f8")
    xy = np.asarray(xy, dtype=np.int64)
    file_uuid = uuid_module.uuid4()
    n, n_pixels = len(axis), len(values)
    mz_offset = 16
    first = mz_offset + 8 * n
    sha1 = hashlib.sha1()
    for chunk in (file_uuid.bytes, axis.tobytes(), values.tobytes()):
        sha1.update(chunk)
    extent = (int(xy[:, 0].max()), int(xy[:, 1].max())) if n_pixels else (0, 0)
    header = _imzml_header(xml_id(path.stem), file_uuid.hex, sha1.hexdigest(), n_pixels, extent,
                           pixel_size_um, polarity, instrument, normalisation)
    tics = values.sum(axis=1, dtype=np.float64)
    with atomic_path(path) as tmp_xml, atomic_path(ibd) as tmp_ibd:     # the .ibd is moved into place first
        with open(tmp_ibd, "wb") as fh:
            fh.write(file_uuid.bytes)
            fh.write(axis.tobytes())
            fh.write(values.tobytes())
        with open(tmp_xml, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(header)
            for i, ((x, y), tic) in enumerate(zip(xy, tics)):
                fh.write(_spectrum_xml(i, int(x), int(y), n, mz_offset, first + 4 * n * i, float(tic)))
            fh.write("    </spectrumList>\n  </run>\n</mzML>\n")
    return path
