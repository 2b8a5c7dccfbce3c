"""Q-Store simulator backends: ``qsim`` (qsimcirq) and ``lightning`` (PennyLane Lightning).

The backends live in `qstore.backends.gpu.qsim_backend` and `qstore.backends.gpu.lightning_backend`;
importing this package imports neither (nor their vendor libraries). Create them by name::

    from qstore.core import get_backend
    qsim = get_backend("qsim", threads=8)
"""

__all__: list[str] = []
