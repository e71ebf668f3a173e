"""Models: Hugging Face configs and modules composing any encoder backbone with boltir heads."""
