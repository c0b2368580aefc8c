"""The sizes the simulations accept, each bounded by memory. Plain numbers with no imports, so
that the CLI's help texts state the same bounds the code enforces without loading numba."""

MAX_DEPTH = 25  # M = 2^24 leaves per dataset: three 128 MiB arrays per replicate
MAX_REPLICATES = 10**6  # memory: 4 float64 per replicate kept (32 MB at the limit)
MAX_RANDOM_SYMBOLS = 10**8  # sim huffman --random: about 4 GB of memory at the limit
