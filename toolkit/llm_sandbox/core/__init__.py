"""The reference API's ``llm_sandbox.core`` package: see ``session_base``."""
