import itertools

import numpy as np
import pytest

from visualizer.audio.median import NETWORKS, median_of


@pytest.mark.parametrize("k", sorted(NETWORKS))
def test_networks_select_the_median_of_every_0_1_input(k):
    # A compare-exchange network commutes with thresholding, so one that selects the median of
    # every 0/1 input selects it for every input (the 0-1 principle).
    inputs = np.array(list(itertools.product([0.0, 1.0], repeat=k))).T   # [k, 2**k]
    np.testing.assert_array_equal(median_of(list(inputs)), np.median(inputs, axis=0))


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9, 11])
def test_median_of_arrays(k):
    rng = np.random.default_rng(k)
    values = rng.normal(size=(k, 40, 6))
    values[:, :5] = np.round(values[:, :5])   # ties
    np.testing.assert_array_equal(median_of(list(values)), np.median(values, axis=0))


def test_even_count_is_refused():
    with pytest.raises(ValueError, match="odd"):
        median_of([np.zeros(3)] * 4)
