"""Q-Store core: circuit IR, gate library, reference engine, gradients and backend contract.

Importing this package never imports torch, tensorflow, cirq or qiskit.
"""

from importlib.metadata import PackageNotFoundError, version

from qstore.core.backend import Backend, Capabilities, Job, Request, Result, RunMetadata
from qstore.core.bindings import Batch, resolve_bindings
from qstore.core.channels import CHANNELS, Channel
from qstore.core.circuit import Circuit, Operation, StatePreparation
from qstore.core.errors import (
    ArgumentError,
    ArgumentTypeError,
    BackendNotFoundError,
    BindingError,
    BudgetExceededError,
    CapabilityError,
    CircuitError,
    CircuitFormatError,
    CorruptDataError,
    CredentialError,
    FrameworkNotFoundError,
    GradientError,
    JobError,
    KernelCancelledError,
    MissingDependencyError,
    NotFittedError,
    NotStoredError,
    ObservableError,
    PluginError,
    PluginNotFoundError,
    QstoreError,
    ResourceError,
    StorageError,
    StorageNotFoundError,
)
from qstore.core.expressions import Expr
from qstore.core.gates import GATES, GateSpec, gate_spec
from qstore.core.numpy_backend import NumpyBackend
from qstore.core.observables import Observable, PauliString, readouts, z_all
from qstore.core.plugins import (
    get_backend,
    get_framework,
    get_storage,
    list_backends,
    list_frameworks,
    list_plugins,
    list_storage,
)

try:
    __version__ = version("qstore-core")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "CHANNELS",
    "GATES",
    "ArgumentError",
    "ArgumentTypeError",
    "Backend",
    "BackendNotFoundError",
    "Batch",
    "BindingError",
    "BudgetExceededError",
    "Capabilities",
    "CapabilityError",
    "Channel",
    "Circuit",
    "CircuitError",
    "CircuitFormatError",
    "CorruptDataError",
    "CredentialError",
    "Expr",
    "FrameworkNotFoundError",
    "GateSpec",
    "GradientError",
    "Job",
    "JobError",
    "KernelCancelledError",
    "MissingDependencyError",
    "NotFittedError",
    "NotStoredError",
    "NumpyBackend",
    "Observable",
    "ObservableError",
    "Operation",
    "PauliString",
    "PluginError",
    "PluginNotFoundError",
    "QstoreError",
    "Request",
    "ResourceError",
    "Result",
    "RunMetadata",
    "StatePreparation",
    "StorageError",
    "StorageNotFoundError",
    "__version__",
    "gate_spec",
    "get_backend",
    "get_framework",
    "get_storage",
    "list_backends",
    "list_frameworks",
    "list_plugins",
    "list_storage",
    "readouts",
    "resolve_bindings",
    "z_all",
]
