"""Run the reference's matplotlib / seaborn / plotly example and save every captured plot to ./plots.

.venv/bin/python examples/save_plots.py
"""

from __future__ import annotations

import base64
from pathlib import Path

from llm_sandbox import ArtifactSandboxSession

CODE = """
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

out = Path("plots")
out.mkdir(exist_ok=True)
with ArtifactSandboxSession(lang="python") as session:
    result = session.run(CODE)
    for number, plot in enumerate(result.plots, start=1):
        path = out / f"{number:06d}.{plot.format.value}"
        path.write_bytes(base64.b64decode(plot.content_base64))
        size = f"{plot.width}x{plot.height}" if plot.width else "interactive"
        print(f"saved {path} ({size})")
