"""An entry point whose import raises."""

raise RuntimeError("goldfish-broken-plugin fails to import on purpose")
