"""Application layer: the reconstruct config (presets), the reconstruct pipeline,
and one run of it with files, resume and a run record -- what the CLI, the
benchmark methods and the examples call."""
