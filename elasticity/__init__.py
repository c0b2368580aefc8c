"""The app: the ``elasticity`` command (``cli``), running experiments into the store
(``runs``), rendering (``render``), tidy exports (``export``), the report (``report``) and
``reproduce``. It imports every layer below, lazily; nothing imports it."""
