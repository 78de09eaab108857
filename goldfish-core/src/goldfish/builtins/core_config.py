"""Placeholder: the core's own config sections (replaced by the config work)."""
