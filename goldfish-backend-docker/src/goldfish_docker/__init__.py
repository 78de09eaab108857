"""goldfish-backend-docker: run Goldfish stages in local Docker containers.

Install it next to ``goldfish-core`` and name ``backend: docker`` in a profile of ``goldfish.yaml``::

    profiles:
      docker-cpu: {backend: docker, image: python:3.11-slim, cpus: 2, memory_gb: 4}

The docker SDK is imported only when a docker profile is used (:mod:`goldfish_docker.engine`).
"""

__version__ = "0.1.0"
