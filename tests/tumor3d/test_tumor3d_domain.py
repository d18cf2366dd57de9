"""The domain guard on simulated slides: new patients of the training disease pass, every other
instrument's simulated tumour section is refused or warned about (never called silently)."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.synth import INSTRUMENT_PRESETS
from tumor3d.cohort import build_cohort
from tumor3d.model import Tumor3DNet
from tumor3d.slide import WARN_FOUND, acquisition_info, channel_stats, check_domain, domain_record, read_channels

SHAPE = (40, 40)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The shipped model with a domain record of 2 simulated tumour-desi training patients (its disease)."""
    root = tmp_path_factory.mktemp("domain")
    model = Tumor3DNet.from_pretrained("tumor3d-tumour-desi")
    cfg = model.config
    train = build_cohort("tumour-desi", root / "train", n_patients=2, shape=SHAPE)
    stats = []
    for slide in train.slides:
        _, mask, _, raw = read_channels(slide.imzml, np.asarray(cfg.mz), cfg.ppm, raw=True)
        stats.append(channel_stats(raw, mask))
    cfg.domain = domain_record(stats, np.arange(cfg.n_channels), instrument="desi", pixel_sizes=[None],
                               instrument_models=[], ppm=cfg.ppm, normalisation=cfg.normalisation)
    return model, root


def _check(model, path):
    cfg = model.config
    cube, mask, _, raw = read_channels(path, np.asarray(cfg.mz), cfg.ppm, raw=True)
    return check_domain(model, raw, cube, mask, str(path), acquisition_info(path))


def test_new_patients_of_the_training_disease_pass(guarded):
    model, root = guarded
    new = build_cohort("tumour-desi", root / "new", n_patients=1, shape=SHAPE, first_patient=1000)
    for slide in new.slides:
        report = _check(model, slide.imzml)
        # a new patient may barely express one of the 24 ions on a 40 x 40 slide (v0.3.0: 23 of 24 found):
        # the guard tolerates that share of missing channels without any warning
        assert report.share_found >= WARN_FOUND and not any("profile" in w or "floor" in w or "carry signal" in w
                                                           for w in report.warnings)


@pytest.mark.parametrize("instrument", sorted(set(INSTRUMENT_PRESETS) - {"desi"}))
def test_every_other_instrument_is_refused_or_warned(guarded, instrument):
    from ionmorph.synth import simulate_section

    model, root = guarded
    path = root / f"{instrument}.imzML"
    simulate_section(family="tumour", instrument=instrument, shape=SHAPE, seed=0).write_imzml(path)
    try:
        report = _check(model, path)
    except InputError as err:
        assert str(path) in str(err) and "no tumour call is made" in str(err)
    else:
        assert report.warnings, f"{instrument}: accepted without a warning"
