"""The GPU check of issue 16: one run on a lent GPU machine that measures the CUDA path.

``bench/gpu_check.sh`` runs the stages, each time-boxed, each recorded whether it
succeeded, failed, timed out or was skipped; this package holds the measured stages
(``python -m bench.gpu_check env|presets|meshing``), the stage records
(:mod:`bench.gpu_check.stages`) and the report that merges them into one
``$OUT/gpu_check.json`` and ``$OUT/gpu_check.md`` (:mod:`bench.gpu_check.report`).

Only the standard library is imported at module level here and in ``stages`` and
``report``, so the records and the report work even where the environment set-up
failed (any ``python3``).
"""
