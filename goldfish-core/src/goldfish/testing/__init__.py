"""Test support for Goldfish and for plugin authors.

* :mod:`goldfish.testing.pytest_plugin` — pytest fixtures, loaded automatically (``pytest11``
  entry point) wherever ``goldfish-core`` is installed: ``goldfish_plugins``,
  ``register_goldfish_plugin``, ``goldfish_project``.
* :mod:`goldfish.testing.projects` — ``CHAIN`` (a tiny three-stage pipeline) and ``resumable``,
  ``write_files`` and ``make_project`` for real projects with a mounted workspace,
  ``update_config``, ``stage_rows``, ``table_rows``, ``GOLDFISH`` (the console script) and
  ``Result``.
* :mod:`goldfish.testing.contracts` — conformance suites (``ComputeBackendContract``,
  ``StorageBackendContract``) that every backend subclasses to prove it behaves.
* :mod:`goldfish.testing.install` — ``fresh_install``: wheels of some packages installed by name
  into a new virtual environment (what `pip install goldfish-core goldfish-backend-x` gives);
  ``workspace_members`` and ``build_dists``, which ``tools/release.py`` builds a release with.

Nothing here is imported by Goldfish itself.
"""
