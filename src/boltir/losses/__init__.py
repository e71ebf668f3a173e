"""Loss functions; each is tested against a hand computation."""
