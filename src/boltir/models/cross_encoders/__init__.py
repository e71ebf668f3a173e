"""Cross-encoders: query and document read together, one relevance score per pair."""
