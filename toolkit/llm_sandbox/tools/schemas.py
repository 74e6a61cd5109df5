"""The argument schemas of the tools (pydantic models both frameworks read), and what a model is told
when its arguments do not fit them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, create_model
from pydantic import ValidationError as ArgumentsError

if TYPE_CHECKING:
    from llm_sandbox.agents import SessionManager


class RunCodeInput(BaseModel):
    code: str = Field(description="The complete program to run.")
    libraries: list[str] | None = Field(
        default=None,
        description="Extra packages to install before running, e.g. ['scipy']; preinstalled ones need not "
        "be listed.",
    )


class InstallPackagesInput(BaseModel):
    libraries: list[str] = Field(
        description="Package names, optionally with versions, e.g. ['scipy', 'sympy==1.13']."
    )


class UploadFileInput(BaseModel):
    path: str = Field(description="Where to write the file in the sandbox, e.g. 'data/input.csv'.")
    content: str = Field(description="The text content of the file.")


class UploadUserFileInput(BaseModel):
    path: str = Field(description="Where to write the file in the sandbox, e.g. 'data/input.csv'.")
    content: str | None = Field(default=None, description="The text content of the file.")
    source: str | None = Field(
        default=None, description="Name of a file the user provided, instead of content."
    )


class ReadFileInput(BaseModel):
    path: str = Field(description="The file to read, e.g. 'results.txt' or '/sandbox/outputs/report.md'.")


class ListFilesInput(BaseModel):
    path: str | None = Field(default=None, description="Directory to list; omit for the working directory.")


class ResetSessionInput(BaseModel):
    """No arguments: the conversation's sandbox is reset."""


def with_language_argument(schema: type[BaseModel], manager: SessionManager) -> type[BaseModel]:
    """Add an optional ``language`` argument when the manager has several languages."""
    if len(manager.languages) < 2 or "language" in schema.model_fields:
        return schema
    field: Any = (
        str | None,
        Field(default=None, description=f"One of {', '.join(manager.languages)} (default {manager.lang})."),
    )
    model: type[BaseModel] = create_model(schema.__name__, __base__=schema, language=field)
    return model


def describe_invalid_arguments(tool: str, error: ArgumentsError, schema: type[BaseModel] | None = None) -> str:
    """What a model reads when its call of ``tool`` has missing or malformed arguments: each problem,
    and the arguments the tool takes (from ``schema``)."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ())) or "the arguments"
        if item.get("type") == "missing":
            problems.append(f"`{where}` is required")
        else:
            problems.append(f"`{where}`: {item.get('msg', 'invalid')} (got {_shown(item.get('input'))})")
    text = f"error: invalid arguments for {tool}: " + "; ".join(problems)
    if schema is not None:
        required = [name for name, field in schema.model_fields.items() if field.is_required()]
        optional = [name for name, field in schema.model_fields.items() if not field.is_required()]
        takes = ", ".join([*required, *(f"{name} (optional)" for name in optional)]) or "no arguments"
        text += f". {tool} takes: {takes}. Call it again with valid arguments."
    return text


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def arguments_schema(name: str, manager: SessionManager, *, user_files: bool = False) -> type[BaseModel]:
    """The argument schema a model sees for one of :data:`TOOL_NAMES`."""
    schemas: dict[str, type[BaseModel]] = {
        "run_code": RunCodeInput,
        "install_packages": InstallPackagesInput,
        "upload_file": UploadUserFileInput if user_files else UploadFileInput,
        "read_file": ReadFileInput,
        "list_files": ListFilesInput,
        "reset_session": ResetSessionInput,
    }
    return with_language_argument(schemas[name], manager)
