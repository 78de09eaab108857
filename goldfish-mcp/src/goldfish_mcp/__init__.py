"""Goldfish MCP server: the agent's interface (goldfish serve)."""
