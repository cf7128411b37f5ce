"""The version of hbr, in one place (read by the package and by what it writes)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
