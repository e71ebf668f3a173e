"""Indexes: sharded memory-mappable vector storage with manifests, and the FAISS backend on top of it."""
