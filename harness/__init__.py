"""The experiment harness, torch-free: configurations (``configs``, ``presets``,
``overrides``), the result store (``store``, ``schemas``, ``provenance``), the run engine
(``engine``) and progress lines (``progress``). ``empirical`` builds its experiments on it;
the app (``elasticity``) runs them. Imports only the standard library, numpy and yaml."""
