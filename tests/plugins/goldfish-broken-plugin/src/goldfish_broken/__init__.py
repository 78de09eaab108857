"""Plugins that fail on purpose, to prove a broken plugin is reported and never crashes Goldfish."""
