"""Neural core (installed as ``sdfrecon.sdf``): fields, encodings, networks, loss
terms and the trainer. Imports only :mod:`sdfrecon.base` and the sampling types
of :mod:`sdfrecon.datasets`."""
