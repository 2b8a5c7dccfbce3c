"""qstore-tf's plugin: backend ``tf`` and framework ``tensorflow``.

Factories are ``"module:attr"`` strings, so TensorFlow is imported only when one is created.
"""

from __future__ import annotations

from qstore.core.hookspecs import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    """Register the batched TensorFlow statevector engine (single precision; ``precision="double"`` option)."""
    register(
        "tf",
        "qstore.tf.backend:TFBackend",
        requires=("tensorflow",),
        description="batched TensorFlow statevector engine, autodiff gradients",
    )


@hookimpl
def register_frameworks(register: Register) -> None:
    """Register the Keras 3 adapter: ``get_framework("tensorflow")`` returns the `qstore.tf` package."""
    register(
        "tensorflow",
        "qstore.tf:framework",
        requires=("tensorflow", "keras"),
        description="Keras 3 layers: QuantumLayer, ExpectationValue, AmplitudeEncoding",
    )
