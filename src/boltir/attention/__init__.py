"""Attention patterns as boolean masks, with a reference SDPA path and fast paths that never build them."""
