"""Rank-DistiLLM: teachers (list-wise LLM rankers, boltir models, existing runs), a call cache, and the builder
that turns first-stage candidates into a teacher run for distillation."""
