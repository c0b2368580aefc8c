"""Exact mathematics of Section 2 and Appendix C of "Language Models Resist Alignment".

Numbers in, numbers out: no I/O, no printing, no torch, no jax. Natural logs throughout
(nats) unless a name says ``_bits``.
"""
