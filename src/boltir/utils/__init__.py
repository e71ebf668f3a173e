"""Small shared helpers: atomic file writes, fingerprints, provenance records."""
