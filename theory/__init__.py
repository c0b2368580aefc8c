"""Exact mathematics of Section 2 and Appendix C of "Language Models Resist Alignment".

Numbers in, numbers out: no I/O, no printing, no torch. numpy/scipy for one point at a time
(``exact``, the reference), JAX for whole grids and derivatives in every parameter
(``batch``; imported lazily, so importing the theory loads no JAX). Natural logs throughout
(nats) unless a name says ``_bits``.
"""
