"""Goldfish reviewers: LLM reviews before and after runs through litellm."""
