"""Plots and output files on Kubernetes: the artifact suite of ``test_artifacts.py``, run again through
the real ``kubernetes`` client against the kubelet double of ``tests/k8s_kubelet_double.py`` (which
stands in for a kubelet: it runs the pod in the local Docker daemon and serves the exec websocket)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llm_sandbox import ArtifactSandboxSession
from tests.integration.test_artifacts import (  # noqa: F401 - the shared artifact suite, collected and run here on Kubernetes
    test_each_run_returns_only_its_own_plots,
    test_images_written_to_outputs_are_plots,
    test_large_output_files_are_listed_without_content,
    test_output_files_come_back_with_their_types,
    test_plot_count_is_bounded_with_a_notice,
    test_plots_over_10_mb_are_dropped_with_a_notice,
    test_reference_example_yields_plots_in_order,
    test_savefig_is_captured_once_in_its_format,
    test_stdout_and_line_numbers_are_exact,
    test_unshown_figures_are_captured_at_the_end,
)
from tests.k8s_kubelet_double import FakeCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def artifacts(docker_client: Any, python_image: str) -> Iterator[ArtifactSandboxSession]:
    """One artifact session on Kubernetes; overrides the Docker fixture of ``test_artifacts.py``."""
    with FakeCluster(docker_client) as cluster, ArtifactSandboxSession(
        backend="kubernetes", client=cluster.api, lang="python"
    ) as session:
        yield session


def test_plotting_off_captures_nothing_on_kubernetes(docker_client: Any, python_image: str) -> None:
    with FakeCluster(docker_client) as cluster, ArtifactSandboxSession(
        backend="kubernetes", client=cluster.api, lang="python", enable_plotting=False
    ) as session:
        result = session.run("import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()\nprint('ran')")
        assert result.plots == [] and result.stdout == "ran\n"
