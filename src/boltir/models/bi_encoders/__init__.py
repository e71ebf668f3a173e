"""Bi-encoders: queries and documents encoded separately, scored by a similarity of their embeddings."""
