"""Plots and output files captured from runs (issue: artifacts), against the real Python image."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from llm_sandbox import ArtifactSandboxSession, FileType

pytestmark = pytest.mark.integration

REFERENCE_EXAMPLE = """
import matplotlib.pyplot as plt
import seaborn as sns
import plotly.express as px
import pandas as pd
import numpy as np

plt.figure(figsize=(10, 6))
x = np.linspace(0, 10, 100)
plt.plot(x, np.sin(x))
plt.title('Matplotlib: Sine Wave')
plt.show()

data = pd.DataFrame({'x': np.random.randn(100), 'y': np.random.randn(100)})
sns.scatterplot(data=data, x='x', y='y')
plt.title('Seaborn: Scatter Plot')
plt.show()

fig = px.line(data, x='x', y='y', title='Plotly: Line Plot')
fig.show()
"""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def artifacts(python_image: str) -> Any:
    with ArtifactSandboxSession(lang="python") as session:
        yield session


def test_reference_example_yields_plots_in_order(artifacts: Any) -> None:
    result = artifacts.run(REFERENCE_EXAMPLE)
    assert result.exit_code == 0, result.stderr
    assert [plot.format for plot in result.plots] == [FileType.PNG, FileType.PNG, FileType.HTML]
    sine, scatter, plotly = result.plots
    for plot, expected in ((sine, (1000, 600)), (scatter, (640, 480))):
        data = base64.b64decode(plot.content_base64)
        assert png_size(data) == expected == (plot.width, plot.height)
        assert plot.dpi == 100
    html = base64.b64decode(plotly.content_base64).decode()
    assert "Plotly: Line Plot" in html and "<html>" in html
    assert result.stdout == ""


def test_each_run_returns_only_its_own_plots(artifacts: Any) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"
    assert len(artifacts.run(code).plots) == 1
    assert len(artifacts.run(code).plots) == 1
    assert artifacts.run("print('no plot')").plots == []
    artifacts.clear_plots()
    assert len(artifacts.run(code, clear_plots=True).plots) == 1


def test_savefig_is_captured_once_in_its_format(artifacts: Any) -> None:
    result = artifacts.run(
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2])\nplt.savefig('/tmp/figure.svg')\nplt.show()\n"
        "plt.figure(); plt.plot([3]); plt.savefig('outputs/saved.png', dpi=50)\n"
        "plt.figure(); plt.plot([4]); plt.savefig('outputs/report.pdf')\n"
    )
    assert [(p.format, p.filename) for p in result.plots] == [
        (FileType.SVG, None),
        (FileType.PNG, "/sandbox/outputs/saved.png"),
        (FileType.PDF, "/sandbox/outputs/report.pdf"),
    ]
    assert result.files == []  # saved into outputs and captured: returned once, as the plot
    assert png_size(base64.b64decode(result.plots[1].content_base64)) == (320, 240)
    assert result.plots[1].dpi == 50
    assert b"<svg" in base64.b64decode(result.plots[0].content_base64)


def test_unshown_figures_are_captured_at_the_end(artifacts: Any) -> None:
    result = artifacts.run(
        "import matplotlib.pyplot as plt\nplt.figure(); plt.plot([1])\nplt.figure(); plt.plot([2])\n"
    )
    assert len(result.plots) == 2


def test_stdout_and_line_numbers_are_exact(artifacts: Any) -> None:
    result = artifacts.run("import matplotlib.pyplot as plt\nprint('exact')\nplt.plot([1])\n1/0\n")
    assert result.stdout == "exact\n"
    assert "line 4, in <module>" in result.stderr
    assert len(result.plots) == 1  # the open figure is still captured when the code fails


def test_plot_count_is_bounded_with_a_notice(artifacts: Any) -> None:
    result = artifacts.run(
        "import matplotlib.pyplot as plt\n"
        "for i in range(53):\n    plt.figure(figsize=(1, 1)); plt.plot([i]); plt.show()\n"
    )
    assert len(result.plots) == 50
    assert result.stderr.count("plot not captured") == 3


def test_plots_over_10_mb_are_dropped_with_a_notice(artifacts: Any) -> None:
    """Random pixels do not compress: a 1900x1900 PNG is about 12.7 MB, a 1700x1700 one about 8.7 MB."""
    result = artifacts.run(
        "import numpy as np\nimport matplotlib.pyplot as plt\n"
        "for side in (1900, 1700):\n"
        "    noise = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)\n"
        "    plt.figure(figsize=(side / 100, side / 100), dpi=100).figimage(noise)\n"
        "    plt.show()\n"
        "plt.figure(figsize=(2, 2)); plt.plot([1, 2]); plt.show()\n"
    )
    assert result.exit_code == 0, result.stderr
    assert [(plot.width, plot.height) for plot in result.plots] == [(1700, 1700), (200, 200)]
    assert len(base64.b64decode(result.plots[0].content_base64)) > 8 * 1024 * 1024
    assert "plot not captured: a png plot of" in result.stderr and "larger than 10485760 bytes" in result.stderr


def test_enable_plotting_false_captures_nothing(python_image: str) -> None:
    with ArtifactSandboxSession(lang="python", enable_plotting=False) as session:
        result = session.run("import matplotlib.pyplot as plt\nplt.plot([1])\nplt.show()\nprint('ran')")
        assert result.plots == [] and result.stdout == "ran\n"


def test_output_files_come_back_with_their_types(artifacts: Any) -> None:
    result = artifacts.run(
        "import json, os\n"
        "os.makedirs('outputs/sub', exist_ok=True)\n"
        "open('outputs/table.csv', 'w').write('a,b\\n1,2\\n')\n"
        "json.dump({'k': 1}, open('outputs/sub/data.json', 'w'))\n"
        "open('outputs/page.html', 'w').write('<p>hi</p>')\n"
        "open('outputs/blob.bin', 'wb').write(os.urandom(100))\n"
        "open('not-in-outputs.txt', 'w').write('ignored')\n"
    )
    files = {f.path: f for f in result.files}
    assert set(files) == {
        "/sandbox/outputs/table.csv",
        "/sandbox/outputs/sub/data.json",
        "/sandbox/outputs/page.html",
        "/sandbox/outputs/blob.bin",
    }
    assert files["/sandbox/outputs/table.csv"].format is FileType.CSV
    assert base64.b64decode(files["/sandbox/outputs/table.csv"].content_base64 or "") == b"a,b\n1,2\n"
    assert files["/sandbox/outputs/sub/data.json"].format is FileType.JSON
    assert (
        files["/sandbox/outputs/blob.bin"].format is FileType.OTHER
        and files["/sandbox/outputs/blob.bin"].size == 100
    )
    # unchanged files are not returned again by the next run
    assert artifacts.run("print(1)").files == []


def test_large_output_files_are_listed_without_content(artifacts: Any) -> None:
    result = artifacts.run("open('outputs/big.csv', 'w').write('x' * (11 * 1024 * 1024))")
    assert len(result.files) == 1, result
    (big,) = result.files
    assert big.size == 11 * 1024 * 1024 and big.content_base64 is None


def test_images_written_to_outputs_are_plots(artifacts: Any) -> None:
    """Images the code writes itself into outputs come back as plots with their file name."""
    result = artifacts.run(
        "import matplotlib\nmatplotlib.use('Agg')  # capture backend bypassed\nimport matplotlib.pyplot as plt\n"
        "fig = plt.figure(figsize=(2, 1), dpi=100); fig.savefig('outputs/own.png'); plt.close(fig)\n"
    )
    assert [p.filename for p in result.plots] == ["/sandbox/outputs/own.png"]
    assert png_size(base64.b64decode(result.plots[0].content_base64)) == (200, 100)


def test_other_languages_return_no_plots_but_their_output_images(python_image: str) -> None:
    from llm_sandbox.images import builder

    builder.ensure_image("javascript")
    tiny_png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAC56t6BAAAAEElEQVR4nGP4z8DAwMDAAAAHBgH/2s3OAAAAAElFTkSuQmCC"
    )
    with ArtifactSandboxSession(lang="javascript") as session:
        assert session.run("console.log('no plots here')").plots == []
        result = session.run(
            "const fs = require('fs');\n"
            "fs.mkdirSync('outputs', { recursive: true });\n"
            f"fs.writeFileSync('outputs/dot.png', Buffer.from('{tiny_png}', 'base64'));\n"
            "fs.writeFileSync('outputs/data.json', '{}');\n"
        )
    assert result.exit_code == 0, result.stderr
    assert [(p.format, p.filename, p.width, p.height) for p in result.plots] == [
        (FileType.PNG, "/sandbox/outputs/dot.png", 2, 3)
    ]
    assert [(f.path, f.format) for f in result.files] == [("/sandbox/outputs/data.json", FileType.JSON)]
