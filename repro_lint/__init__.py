"""repro-lint: find and fix what makes PyTorch training runs non-reproducible."""

__version__ = "0.1.0"
