"""Instrument and protocol presets of the simulator.

Each preset sets what an ion image from that kind of acquisition looks like:

- spatial blur (laser spot / sprayer footprint larger than the pixel; DESI also smears along the
  scan line) and pixel size;
- resolving power R = m / FWHM at m/z 400 (TOF and DESI-QTOF: constant R; Orbitrap: R falls as
  1/sqrt(m); FT-ICR: as 1/m), which sets peak width and the profile m/z axis;
- counting statistics: ``counts_per_unit`` converts abundance to detected ions (Poisson), ``gain``
  converts ions to the stored intensity, ``gain_cv`` adds multiplicative detector noise;
- detection threshold (centroided data keeps peaks at or above it: low peaks go missing),
  chemical-noise baseline (profile) and noise peaks (centroid);
- systematic effects: smooth mass-calibration drift (ppm), per-pixel TIC variation (ion
  suppression, matrix inhomogeneity), DESI row-wise sprayer drift, hotspot and missing-pixel rates;
- the typical ion-image tolerance (ppm) and default storage mode;
- ``quantum``: the digitiser step of stored intensities (TOF detectors store integers; 0 = none).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Instrument:
    """One acquisition preset (see the module docstring for the meaning of each field)."""

    name: str
    pixel_um: float
    blur_px: float
    scan_smear_px: float
    resolving_power: float
    power_law: float
    ppm: float
    calib_drift_ppm: float
    counts_per_unit: float
    gain: float
    gain_cv: float
    threshold: float
    baseline: float
    noise_peaks: float
    tic_cv: float
    row_cv: float
    hotspot_rate: float
    missing_rate: float
    mz_range: tuple[float, float]
    default_mode: str
    matrix: bool
    quantum: float = 0.0

    def fwhm(self, mz):
        """Peak full width at half maximum (Da) at ``mz`` (scalar or array)."""
        return mz / (self.resolving_power * (400.0 / mz) ** self.power_law)


INSTRUMENT_PRESETS: dict[str, Instrument] = {
    "maldi_tof": Instrument("maldi_tof", pixel_um=50.0, blur_px=0.6, scan_smear_px=0.0,
                            resolving_power=9000.0, power_law=0.0, ppm=50.0, calib_drift_ppm=12.0,
                            counts_per_unit=1.0, gain=1.0, gain_cv=0.05, threshold=2.0, baseline=0.12,
                            noise_peaks=40.0, tic_cv=0.3, row_cv=0.03, hotspot_rate=0.3,
                            missing_rate=0.004, mz_range=(300.0, 1400.0), default_mode="continuous", matrix=True,
                            quantum=1.0),
    "maldi_orbitrap": Instrument("maldi_orbitrap", pixel_um=20.0, blur_px=0.5, scan_smear_px=0.0,
                                 resolving_power=120000.0, power_law=0.5, ppm=5.0, calib_drift_ppm=1.5,
                                 counts_per_unit=1.0, gain=120.0, gain_cv=0.12, threshold=3.0, baseline=0.05,
                                 noise_peaks=60.0, tic_cv=0.25, row_cv=0.03, hotspot_rate=0.25,
                                 missing_rate=0.002, mz_range=(150.0, 1000.0), default_mode="processed",
                                 matrix=True),
    "maldi_fticr": Instrument("maldi_fticr", pixel_um=50.0, blur_px=0.6, scan_smear_px=0.0,
                              resolving_power=250000.0, power_law=1.0, ppm=3.0, calib_drift_ppm=1.0,
                              counts_per_unit=1.0, gain=1000.0, gain_cv=0.1, threshold=4.0, baseline=0.05,
                              noise_peaks=80.0, tic_cv=0.25, row_cv=0.02, hotspot_rate=0.2,
                              missing_rate=0.002, mz_range=(150.0, 1200.0), default_mode="processed",
                              matrix=True),
    "desi": Instrument("desi", pixel_um=100.0, blur_px=1.1, scan_smear_px=1.2,
                       resolving_power=25000.0, power_law=0.0, ppm=10.0, calib_drift_ppm=3.0,
                       counts_per_unit=1.0, gain=40.0, gain_cv=0.15, threshold=3.0, baseline=0.08,
                       noise_peaks=50.0, tic_cv=0.2, row_cv=0.15, hotspot_rate=0.1,
                       missing_rate=0.003, mz_range=(150.0, 1000.0), default_mode="processed", matrix=False),
    # ToF-SIMS: small fragments, a fine beam and very few counts per pixel (most pixels of most
    # channels are zero), no matrix; a primary ion beam sputters everywhere it scans.
    "tof_sims": Instrument("tof_sims", pixel_um=2.0, blur_px=0.7, scan_smear_px=0.0,
                           resolving_power=4000.0, power_law=0.0, ppm=200.0, calib_drift_ppm=30.0,
                           counts_per_unit=0.06, gain=1.0, gain_cv=0.0, threshold=1.0, baseline=0.01,
                           noise_peaks=15.0, tic_cv=0.3, row_cv=0.02, hotspot_rate=0.05,
                           missing_rate=0.0, mz_range=(20.0, 400.0), default_mode="processed", matrix=False,
                           quantum=1.0),
}
#: Instrument names of the API contract (``maldi_fticr`` is available as well).
INSTRUMENTS: tuple[str, ...] = ("maldi_tof", "maldi_orbitrap", "desi", "tof_sims")


def get_instrument(name: str) -> Instrument:
    """The preset called ``name``; raises InputError naming the valid ones."""
    try:
        return INSTRUMENT_PRESETS[name]
    except KeyError:
        raise InputError(f"unknown instrument {name!r}; choose from {', '.join(INSTRUMENT_PRESETS)}") from None
