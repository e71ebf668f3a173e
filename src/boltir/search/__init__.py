"""Searching: dense retrieval over an index, BM25, and re-ranking of candidate runs."""
