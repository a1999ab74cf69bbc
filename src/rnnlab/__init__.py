"""rnnlab: recurrent sequence models from the lecture equations to fast kernels."""

__version__ = "0.1.0"

__all__ = ["__version__"]
