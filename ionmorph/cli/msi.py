"""Sub-commands ``ionmorph info`` and ``ionmorph images`` (reading imzML files)."""
from __future__ import annotations

import argparse
import json

import numpy as np

from ..io.msi import DEFAULT_PPM, MSIData, open_msi


def describe(data: MSIData) -> dict:
    """A JSON-ready summary of a dataset: geometry, storage, m/z range, spectrum lengths, dtypes, and the
    pixel size, polarity and instrument when the file declares them (:mod:`ionmorph.io.metadata`)."""
    from ..io.metadata import read_acquisition_info

    lengths = data.spectrum_lengths
    lo, hi = data.mz_range
    return {
        "path": str(data.path),
        "shape": list(data.shape),
        "n_pixels": int(data.n_pixels),
        "unmeasured_pixels": int(data.mask.size - data.n_pixels),
        "mode": data.mode,
        "spectrum_type": data.spectrum_type,
        "mz_range": [lo, hi],
        "axis_length": None if data.mz_axis is None else int(len(data.mz_axis)),
        "spectrum_length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                            "max": int(lengths.max()), "empty": int((lengths == 0).sum())},
        "mz_dtype": str(data.mz_dtype),
        "intensity_dtype": str(data.intensity_dtype),
        "z": int(data.z),
        **read_acquisition_info(data.path).to_dict(),
    }


def _info(args: argparse.Namespace) -> int:
    if args.tic:
        _check_figure(args.tic, args)
    data = open_msi(args.file, z=args.z)
    summary = describe(data)
    if args.tic:
        from ..plotting import ion_image_grid, save_figure

        fig = ion_image_grid(data.tic_image(progress=args.progress), ["TIC"], data.mask,
                             cmap="magma", suptitle=data.path.name)
        summary["tic_png"] = str(save_figure(fig, args.tic, inputs=[args.file], overwrite=args.force))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    sl = summary["spectrum_length"]
    print(f"{summary['path']}\n"
          f"  raster      {data.shape[0]} x {data.shape[1]} (H x W), {data.n_pixels} measured pixels, "
          f"{summary['unmeasured_pixels']} unmeasured, z={data.z}\n"
          f"  storage     {data.mode}, {data.spectrum_type or 'unknown'} spectra\n"
          f"  m/z range   {summary['mz_range'][0]:.4f} - {summary['mz_range'][1]:.4f}\n"
          f"  spectra     {sl['min']}-{sl['max']} points (median {sl['median']:g}), {sl['empty']} empty\n"
          f"  dtypes      m/z {data.mz_dtype}, intensity {data.intensity_dtype}")
    px = summary["pixel_size_um"]
    for label, value in (("pixel size", px and f"{px[0]:g} x {px[1]:g} um"), ("polarity", summary["polarity"]),
                         ("instrument", summary["instrument"])):
        if value:
            print(f"  {label:<11} {value}")
    if args.tic:
        print(f"  TIC image   {summary['tic_png']}")
    return 0


def _images(args: argparse.Namespace) -> int:
    from ..plotting import ion_image_grid, save_figure

    _check_figure(args.output, args)
    data = open_msi(args.file, z=args.z)
    images = data.ion_images(args.mz, ppm=args.ppm, tol_da=args.tol_da, progress=args.progress, norm=args.norm)
    width = f"+/- {args.tol_da} Da" if args.tol_da else f"+/- {args.ppm:g} ppm"
    if args.norm != "none":
        width += f", {args.norm.upper()}-normalised"
    fig = ion_image_grid(images, [f"m/z {m:.4f}" for m in args.mz], data.mask, ncols=args.ncols, cmap=args.cmap,
                         shared_scale=args.shared_scale, suptitle=f"{data.path.name} ({width})")
    print(save_figure(fig, args.output, inputs=[args.file], overwrite=args.force))
    return 0


def _check_figure(path, args: argparse.Namespace) -> None:
    """Refuse a figure path that is the input or a file ionmorph did not write (unless --force), before reading."""
    from ..fileio import check_output
    from ..plotting import is_ionmorph_figure

    check_output(path, [args.file], force=args.force, owned=is_ionmorph_figure)


def add_cli(subparsers) -> None:
    """Add ``info`` and ``images`` to the ``ionmorph`` command."""
    from .pick import add_norm_option

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("file", help="the .imzML file (its .ibd beside it)")
    common.add_argument("--z", type=int, default=None, help="z slice of 3D data")
    common.add_argument("--progress", action="store_true", help="show progress bars")
    common.add_argument("--force", action="store_true",
                        help="replace an existing picture that ionmorph did not write (never the input file)")

    info = subparsers.add_parser("info", parents=[common], help="describe an imzML file",
                                 description="Shape, storage mode, m/z range, pixel count, spectrum lengths, dtypes, "
                                             "and the pixel size, polarity and instrument when the file has them.")
    info.add_argument("--tic", metavar="PNG", help="also save a total-ion-count picture here")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)

    images = subparsers.add_parser("images", parents=[common], help="plot ion images of an imzML file",
                                   description="Ion images (one streaming pass) as a grid picture.")
    images.add_argument("--mz", type=float, nargs="+", required=True, help="window centres (m/z)")
    images.add_argument("--ppm", type=float, default=DEFAULT_PPM, help=f"half-width in ppm (default {DEFAULT_PPM:g})")
    images.add_argument("--tol-da", type=float, default=None, help="absolute half-width in Da (overrides --ppm)")
    add_norm_option(images, "before they are drawn")
    images.add_argument("--ncols", type=int, default=None, help="columns of the grid")
    images.add_argument("--shared-scale", action="store_true",
                        help="one intensity scale for all panels (default: each panel its own)")
    images.add_argument("--cmap", default="viridis", help="matplotlib colour map (default viridis)")
    images.add_argument("-o", "--output", required=True, help="output picture (.png, .pdf, .svg)")
    images.set_defaults(func=_images)
