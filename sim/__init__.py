"""Simulation core: token response trees, Huffman coding, finite-tree Monte Carlo.

Imports numpy, numba and theory; never torch (tests/test_layering.py checks it).
"""
