"""Test support for Goldfish and for plugin authors.

* :mod:`goldfish.testing.pytest_plugin` — pytest fixtures, loaded automatically (``pytest11``
  entry point) wherever ``goldfish-core`` is installed: ``goldfish_plugins``,
  ``register_goldfish_plugin``, ``goldfish_project``.
* :mod:`goldfish.testing.contracts` — conformance suites (``ComputeBackendContract``,
  ``StorageBackendContract``) that every backend subclasses to prove it behaves.

Nothing here is imported by Goldfish itself.
"""
