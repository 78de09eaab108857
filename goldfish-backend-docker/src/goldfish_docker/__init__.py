"""goldfish-backend-docker: run Goldfish stages in local Docker containers.

Install it next to ``goldfish-core`` and name ``backend: docker`` in a profile of ``goldfish.yaml``::

    profiles:
      docker-cpu: {backend: docker, image: python:3.11-slim, cpus: 2, memory_gb: 4}

The docker SDK is imported only when a docker profile is used (:mod:`goldfish_docker.engine`).
"""



def __getattr__(name: str) -> str:
    # The version of the installed distribution (one source: the repository's VERSION file),
    # looked up only when asked for.
    if name == "__version__":
        from importlib import metadata

        return metadata.version("goldfish-backend-docker")
    raise AttributeError(f"module 'goldfish_docker' has no attribute {name!r}")
