"""A language handler written as a plugin for the reference ``llm-sandbox``, running here unchanged.

Bash, on the C++ image (any image with bash that follows the image contract would do). The handler
sets its own record, says how bash imports (``source``) and comments, and is registered with the
reference's factory; the session runs it, and the security policy checks restricted "modules" with
the handler's own regexes.

    PYTHONPATH=toolkit python examples/reference_plugin.py
"""

from __future__ import annotations

import logging
import re

from llm_sandbox import SandboxSession
from llm_sandbox.exceptions import SecurityViolationError
from llm_sandbox.language_handlers.base import AbstractLanguageHandler, LanguageConfig
from llm_sandbox.language_handlers.factory import LanguageHandlerFactory
from llm_sandbox.security import RestrictedModule, SecurityIssueSeverity, SecurityPolicy


class BashHandler(AbstractLanguageHandler):
    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger)
        self.config = LanguageConfig(
            name="bash",
            file_extension="sh",
            execution_commands=["bash {file}"],
            package_manager=None,
            is_support_library_installation=False,
            image="llm-sandbox/cpp:latest",  # this library's addition to the record: the default image
        )

    def get_import_patterns(self, module: str) -> str:
        return r"(?:^|[;&|]\s*|\s)(?:source|\.)\s+\S*" + re.escape(module) + r"\b"

    @staticmethod
    def get_multiline_comment_patterns() -> str:
        return r":\s*<<\s*'?EOF'?[\s\S]*?^EOF"

    @staticmethod
    def get_inline_comment_patterns() -> str:
        return r"(?:^|\s)#.*$"


LanguageHandlerFactory.register_handler("bash", BashHandler)

with SandboxSession(lang="bash") as session:
    print(session.run('for i in 1 2 3; do echo "line $i"; done; echo "bash ${BASH_VERSION%%(*}"').stdout)

secrets = RestrictedModule(name="secrets.sh", description="credentials", severity=SecurityIssueSeverity.HIGH)
with SandboxSession(lang="bash", security_policy=SecurityPolicy(restricted_modules=[secrets])) as session:
    print(session.run("# source secrets.sh is only a comment\necho fine").stdout)
    try:
        session.run("source ./secrets.sh")
    except SecurityViolationError as refused:
        print(refused)
