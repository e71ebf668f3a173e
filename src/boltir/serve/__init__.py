"""``boltir serve``: an index, a re-ranker or a model behind HTTP (FastAPI), with dynamic batching."""
