"""Imports every module that registers components, so configs can name them.

Add a module here when it registers a network, encoding, loss term or sampler.
"""

import datasets.sampling  # noqa: F401  samplers
import sdf.encodings  # noqa: F401  encodings
import sdf.hashgrid  # noqa: F401  hash-grid encoding
import sdf.losses  # noqa: F401  loss terms
import sdf.networks  # noqa: F401  networks
import sdf.sine_networks  # noqa: F401  SIREN and StEik quadratic networks
import datasets.slice_sampling  # noqa: F401  slice sampler
import sdf.losses_occupancy  # noqa: F401  occupancy loss terms
