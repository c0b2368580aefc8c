"""Fine-tuning experiments: the synthetic world (offline, exact), real models and datasets from
local paths, and the protocols (rebound, resist, counterfactual) that the harness's engine runs.

The only package that imports torch / transformers / trl (world.py itself needs only numpy).
"""
