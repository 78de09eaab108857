"""goldfish-ui: ``goldfish ui``, a local, read-only web dashboard of a Goldfish project.

Starlette + uvicorn + Jinja2, imported only when ``goldfish ui`` runs (the plugin module that
registers the command imports none of them). Pages read the same core services as the CLI and
the MCP tools (:mod:`goldfish.orientation`, :mod:`goldfish.runs.records`,
:mod:`goldfish.runs.compare`, :mod:`goldfish.metrics`, :mod:`goldfish.workspaces`,
:mod:`goldfish.patterns`); every asset is served by the package.
"""
