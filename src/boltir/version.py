"""The version of boltir (read by the packaging and by ``boltir --version``)."""

__version__ = "0.2.0"
