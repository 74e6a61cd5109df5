"""What each tool tells a model about itself and the sandbox behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llm_sandbox.agents import SessionManager


def describe_run_tool(manager: SessionManager, *, max_chars: int = 1024, prefix: str = "") -> str:
    """The run tool's description: what the sandbox is, for a model (at most ``max_chars``, the
    limit of OpenAI-style tool descriptions; the least important lines go first). ``prefix``: that of
    the tool names (``sandbox_`` makes ``sandbox_reset_session``)."""
    langs = manager.languages
    info = manager.language_info(manager.lang)
    if len(langs) == 1:
        text = (
            f"Run {info.display_name} code in an isolated sandbox and get its exit code, stdout and stderr."
        )
    else:
        text = (
            f"Run code in an isolated sandbox and get its exit code, stdout and stderr. Languages: "
            f"{', '.join(langs)} (default {manager.lang}; set `language`)."
        )
    if info.stateful:
        lines = [
            text,
            "- Calls of this conversation share one interpreter, like notebook cells: variables, imports "
            f"and functions from earlier calls are still defined ({prefix}reset_session starts over). The value of "
            "the last expression is shown.",
        ]
    else:
        lines = [text, "- Each call runs the code as a new program; print what you need to see."]
    for lang in langs:
        one = manager.language_info(lang)
        which = f"{lang}: " if len(langs) > 1 else ""
        if one.preinstalled:
            lines.append(f"- {which}preinstalled libraries: {', '.join(one.preinstalled)}.")
        if one.can_install:
            lines.append(
                f"- {which}other libraries: list them in `libraries` (installed with {one.package_manager} "
                "before the run)."
            )
        elif len(langs) > 1 or not one.preinstalled:
            lines.append(f"- {which}no extra libraries can be installed.")
    lines.append(
        "- The code has network access."
        if info.network
        else "- No network access from the code (no downloads, no web requests)."
    )
    lines.append(
        f"- Files in the working directory {info.workdir} persist between calls of this conversation"
        + ("." if info.stateful else "; variables do not.")
    )
    lines.append(f"- Files written to {info.outputs_dir} are returned to the user.")
    plotting = [manager.language_info(lang) for lang in langs if manager.language_info(lang).plots]
    if plotting:
        lines.append(
            "- Plots: show figures normally (e.g. matplotlib `plt.show()`, plotly `fig.show()`); they are "
            "captured and shown to the user automatically, no need to save or encode them."
        )
    if info.timeout:
        lines.append(f"- Each run is stopped after {info.timeout:g} s.")
    while len(lines) > 1 and len("\n".join(lines)) > max_chars:
        lines.pop()
    return "\n".join(lines)[:max_chars]


TOOL_NAMES = ("run_code", "install_packages", "upload_file", "read_file", "list_files", "reset_session")


def describe_tool(name: str, manager: SessionManager, *, user_files: bool = False, prefix: str = "") -> str:
    """Description of one of :data:`TOOL_NAMES` for a model (tools named with ``prefix``)."""
    if name == "run_code":
        return describe_run_tool(manager, prefix=prefix)
    info = manager.language_info(manager.lang)
    several = len(manager.languages) > 1
    which = f" Set `language` for another language's sandbox (default {manager.lang})." if several else ""
    if name == "install_packages":
        installable = [manager.language_info(lang) for lang in manager.languages]
        managers = ", ".join(sorted({i.package_manager for i in installable if i.can_install})) or "none"
        preinstalled = f" Already installed: {', '.join(info.preinstalled)}." if info.preinstalled else ""
        return (
            f"Install packages ({managers}) into this conversation's sandbox; they stay installed for later "
            f"runs. The code itself has no network, so install here (or via {prefix}run_code's `libraries`)."
            f"{preinstalled}{which}"
        )
    if name == "upload_file":
        source = " or `source` (the name of a file the user provided)" if user_files else ""
        return (
            f"Create or overwrite a file in the sandbox from `content` (text){source}. Relative paths are "
            f"under {info.workdir}; only {info.workdir} and /tmp are writable.{which}"
        )
    if name == "read_file":
        return (
            f"Read a text file from the sandbox (relative paths are under {info.workdir}). Long files are "
            f"cut; binary files are described, not shown.{which}"
        )
    if name == "list_files":
        return f"List the files of a sandbox directory (default {info.workdir}, 3 levels deep).{which}"
    if name == "reset_session":
        return (
            "Restart this conversation's interpreter: every variable, import and definition of earlier "
            f"runs is forgotten; files in {info.workdir} stay. Use it to start over or when the state is "
            f"broken.{which}"
        )
    raise ValueError(f"unknown tool {name!r}; choose one of {', '.join(TOOL_NAMES)}")
