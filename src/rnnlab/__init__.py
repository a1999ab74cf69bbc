"""rnnlab: recurrent sequence models from the lecture equations to fast kernels.

Subpackages are imported lazily, so `import rnnlab.reference` stays NumPy-only.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "atomic",
    "backends",
    "bench",
    "config",
    "data",
    "decoding",
    "errors",
    "functional",
    "models",
    "nn",
    "reference",
    "train",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"rnnlab.{name}")
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")
