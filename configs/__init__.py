"""Bundled presets (``<name>.yaml``), installed as package data of ``sdfrecon.configs``
so :func:`sdfrecon.pipeline.config.preset_dirs` finds them after any kind of install."""
