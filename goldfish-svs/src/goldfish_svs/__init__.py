"""Goldfish SVS: data contracts, statistical checks, metric health and failure patterns."""
