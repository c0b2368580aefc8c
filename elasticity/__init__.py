"""Glue: the ``elasticity`` command, the result store and (later) presets and the report."""
