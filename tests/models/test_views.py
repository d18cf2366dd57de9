"""Views for multi-view scoring: the full frame and four corner crops."""
from __future__ import annotations

import numpy as np
import pytest

from ionmorph.errors import InputError
from ionmorph.models.views import corner_views, view_stacks


def test_corner_views_cover_the_raster():
    views = corner_views((10, 20), 0.6)
    assert views[0] == (slice(0, 10), slice(0, 20))
    assert len(views) == 5
    hit = np.zeros((10, 20), int)
    for r, c in views[1:]:
        assert (r.stop - r.start, c.stop - c.start) == (6, 12)
        hit[r, c] += 1
    assert hit.min() >= 1 and hit[4:6, 8:12].min() == 4   # the centre is in every crop


def test_view_stacks_crop_images_and_mask_alike():
    images = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)
    mask = np.eye(5, dtype=bool)
    stacks = list(view_stacks(images, mask, 0.4))
    assert [s[0].shape for s in stacks] == [(2, 5, 5)] + [(2, 2, 2)] * 4
    last_images, last_mask = stacks[-1]
    np.testing.assert_array_equal(last_images, images[:, 3:, 3:])
    np.testing.assert_array_equal(last_mask, mask[3:, 3:])
    with pytest.raises(InputError):
        corner_views((5, 5), 0.0)
