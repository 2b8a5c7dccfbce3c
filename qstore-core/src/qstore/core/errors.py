"""The Q-Store error tree.

Every error Q-Store raises on purpose derives from `QstoreError`::

    QstoreError
    ├── CircuitError            a circuit or operation that cannot be built as asked
    │   └── CircuitFormatError  serialised circuit JSON that does not validate
    ├── BindingError            symbol bindings missing, unknown or of the wrong shape
    ├── ObservableError         a malformed Pauli string or observable
    ├── CapabilityError         a backend asked for something it does not support
    ├── ResourceError           a workload that does not fit in memory
    ├── GradientError           a gradient method that cannot differentiate this circuit
    ├── PluginNotFoundError     a name no installed plugin registers (also a LookupError)
    │   ├── BackendNotFoundError
    │   ├── FrameworkNotFoundError
    │   └── StorageNotFoundError
    ├── PluginError             a plugin that failed to load or clashes with another
    ├── JobError                an asynchronous job that failed, was cancelled or timed out
    │   ├── KernelCancelledError  a kernel computation cancelled before it finished
    │   └── RetryableJobError   a job refused before anything ran or was charged: safe to resend
    ├── BudgetExceededError     a job whose cost estimate exceeds the remaining budget
    ├── ArgumentError           a public argument with a bad value (also a ValueError)
    │   └── ArgumentTypeError   a public argument of the wrong type (also a TypeError)
    ├── NotFittedError          an estimator used before fit()
    ├── MissingDependencyError  an optional dependency a feature needs is not installed
    ├── CredentialError         an API key or token that is missing or malformed (never shown)
    └── StorageError            a store that cannot read or write what was asked
        ├── NotStoredError      a name the store does not hold (also a KeyError)
        └── CorruptDataError    data on disk that fails its checksum or format check

Messages say what was wrong, what is allowed, and what to do.
"""

from __future__ import annotations


class QstoreError(Exception):
    """Base of every error Q-Store raises on purpose."""


class CircuitError(QstoreError, ValueError):
    """A circuit or operation that cannot be built as asked."""


class CircuitFormatError(CircuitError):
    """Serialised circuit JSON that does not validate; the message names the bad field."""


class BindingError(QstoreError, ValueError):
    """Symbol bindings that are missing, unknown, or of the wrong shape."""


class ObservableError(QstoreError, ValueError):
    """A malformed Pauli string or observable."""


class CapabilityError(QstoreError):
    """A backend was asked for a gate, size, option or gradient it does not support."""


class ResourceError(QstoreError, MemoryError):
    """A workload that would not fit in this machine's memory."""


class GradientError(QstoreError):
    """A gradient method that cannot differentiate the given circuit or backend."""


class PluginNotFoundError(QstoreError, LookupError):
    """No installed plugin registers the requested name."""


class BackendNotFoundError(PluginNotFoundError):
    """No installed plugin registers a backend of the requested name."""


class FrameworkNotFoundError(PluginNotFoundError):
    """No installed plugin registers a framework adapter of the requested name."""


class StorageNotFoundError(PluginNotFoundError):
    """No installed plugin registers a storage driver of the requested name."""


class PluginError(QstoreError):
    """A plugin failed to load, or two plugins register the same name."""


class JobError(QstoreError):
    """An asynchronous job that failed, was cancelled, or did not finish in time."""


class RetryableJobError(JobError):
    """A job that failed before anything ran or was charged, so resubmitting it is safe."""


class BudgetExceededError(QstoreError):
    """A job whose cost estimate exceeds what remains of the budget."""


class MissingDependencyError(QstoreError, ImportError):
    """An optional dependency (e.g. matplotlib for drawings) is not installed; says what to install."""


class CredentialError(QstoreError, ValueError):
    """A credential that is missing or malformed; the message describes it without showing it."""


class StorageError(QstoreError):
    """A storage driver that cannot read or write what was asked; the message names the file."""


class NotStoredError(StorageError, KeyError):
    """A name the store does not hold; the message lists what it does hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CorruptDataError(StorageError, ValueError):
    """Stored data that fails its checksum or format check; names the file and the item."""


class ArgumentError(QstoreError, ValueError):
    """A public argument with a bad value; the message names the argument, the value and what is valid."""


class ArgumentTypeError(ArgumentError, TypeError):
    """A public argument of the wrong type; the message names the argument and the type expected."""


class NotFittedError(QstoreError, RuntimeError):
    """An estimator was used before ``fit``."""


class KernelCancelledError(JobError):
    """A kernel computation was cancelled; no partial kernel was returned or cached."""
