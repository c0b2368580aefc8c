"""The app: the ``elasticity`` command (``cli``), running experiments into the store
(``runs``), rendering (``render``), tidy exports (``export``), the report (``report``) and
``reproduce``. It imports every layer below, lazily; nothing imports it.

``elasticity.load(run_dir)`` reads a finished run as a typed result (``elasticity.catalog``)."""


def load(run_dir):
    """The finished run in ``run_dir`` as a ``catalog.Result`` (``.summary()``, ``.per_seed()``,
    ``.figure(name)``), read through the store's checked reader."""
    from elasticity.catalog import load as _load

    return _load(run_dir)
