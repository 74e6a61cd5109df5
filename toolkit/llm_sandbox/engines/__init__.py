"""Container engines behind one protocol (``base``): ``docker``, ``podman``, ``kubernetes``, and ``fake`` for tests.

An engine knows containers, execs, volumes and images; it knows nothing of
languages, plots or policies, and imports nothing above the contract.
"""
