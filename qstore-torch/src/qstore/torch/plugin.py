"""qstore-torch's plugin: backends ``torch`` and ``torch.distributed``, framework ``torch``.

Factories are ``"module:attr"`` strings, so torch is imported only when one is created.
"""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Register the batched torch statevector engine (``device``, ``dtype`` options)."""
    register(
        "torch",
        "qstore.torch.backend:TorchBackend",
        requires=("torch",),
        description="batched torch statevector engine on CPU or CUDA, autograd and adjoint gradients",
    )
    register(
        "torch.distributed",
        "qstore.torch.distributed:DistributedBackend",
        requires=("torch",),
        description="torch statevector engine over torch.distributed ranks: state sharded or batch split",
    )


@hookimpl
def register_frameworks(register: Register) -> None:
    """Register the PyTorch adapter: ``get_framework("torch")`` returns the `qstore.torch` package."""
    register(
        "torch",
        "qstore.torch:framework",
        requires=("torch",),
        description="PyTorch nn.Module QuantumLayer on any registered backend",
    )
