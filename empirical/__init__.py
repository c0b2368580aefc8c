"""Fine-tuning experiments: the synthetic world (offline, exact) and, later, real models.

The only package that imports torch / transformers / trl (world.py itself needs only numpy).
"""
