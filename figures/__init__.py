"""Figures from saved result files only (never by rerunning an experiment); matplotlib only:
no torch, no jax."""
