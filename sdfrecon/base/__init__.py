"""Base layer: what every other layer may use and nothing here imports from them.

Errors (:mod:`.errors`), atomic file output (:mod:`.atomic`), name registries
(:mod:`.registry`), typed YAML configs (:mod:`.configtools`), device choice
(:mod:`.device`), checkpoint files (:mod:`.checkpoint`) and the paths of a run's
outputs (:mod:`.run_files`).
"""
