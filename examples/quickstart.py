"""A real sandboxed run: the first thing `scripts/setup.sh` shows a new user.

.venv/bin/python examples/quickstart.py
"""

from __future__ import annotations

from llm_sandbox import ArtifactSandboxSession, SandboxSession, SandboxTimeoutError

with SandboxSession(lang="python", execution_timeout=30) as session:
    result = session.run(
        "import sys, os\nprint('Hello from the sandbox!', sys.version.split()[0], 'uid', os.getuid())"
    )
    print(result.stdout, end="")

    try:
        session.run("while True: pass", timeout=2)
    except SandboxTimeoutError as error:
        print(f"Timeout enforced: {error}")

with ArtifactSandboxSession(lang="python") as session:
    result = session.run(
        "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9, 16])\nplt.title('Squares')\nplt.show()\n"
    )
    for plot in result.plots:
        print(f"Captured a {plot.format.value} plot of {plot.width}x{plot.height} px")
