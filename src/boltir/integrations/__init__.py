"""Adapters that let other toolkits drive boltir (PyTerrier)."""
