"""Interactive sessions, under the reference package's module name (see :mod:`llm_sandbox.sessions.interactive`)."""

from llm_sandbox.sessions.interactive import INTERRUPT_GRACE, InteractiveSandboxSession, KernelType, kernel_languages

__all__ = ["INTERRUPT_GRACE", "InteractiveSandboxSession", "KernelType", "kernel_languages"]
