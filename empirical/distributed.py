"""Multi-process runs: ``accelerate launch`` (or torchrun) sets up the processes and their
DDP, FSDP or DeepSpeed configuration, and the trl/transformers trainers take it from the
launcher's environment; nothing needs passing twice. The run engine runs every cell on every
rank together (harness.engine) and only the main process (RANK 0) writes results and
checkpoints.

    accelerate launch [--config_file fsdp.yaml] -m elasticity rebound --model-path ... ...
    torchrun --nproc_per_node 2 -m elasticity rebound --model-path ... ...

Tested on this CPU machine with ``torchrun --nproc_per_node 2`` (gloo DDP):
tests/test_real_protocols.py. (On one machine without GPUs, ``accelerate launch --cpu
--num_processes 2`` starts a single process: accelerate's multi-CPU launcher is mpirun.)
"""

from harness.engine import is_main_process

__all__ = ["is_main_process"]
