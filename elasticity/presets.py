"""Named configurations; the keys are the CLI's --preset choices.

- ``micro``: every stage on a tiny world and grid, for tests (well under a minute);
- ``quick``: all stages, a small grid, one seed (a few minutes on a 2-core CPU).
"""

from empirical.protocols import ReboundConfig
from empirical.world import WorldConfig

REBOUND = {
    "micro": ReboundConfig(
        world=WorldConfig(content_vocab=4, response_length=3, prompt_vocab=3, n_pre=1500,
                          n_align=300, n_perturb=200, n_held_out=50),
        model_size="tiny", q1=(50, 200), q2=(20, 60), seeds=(0,), pretrain_epochs=3,
        pretrain_lr=1e-2, first_lr=3e-3, second_lr=3e-3, eval_prompts=4),
    "quick": ReboundConfig(
        world=WorldConfig(n_pre=20_000, n_align=2_000, n_perturb=1_000, n_held_out=200),
        model_size="small", q1=(1000, 2000), q2=(50, 100, 200, 300, 500, 1000), seeds=(0,),
        pretrain_epochs=2, pretrain_lr=3e-3, first_lr=1e-3, second_lr=1e-3, eval_prompts=16),
}
