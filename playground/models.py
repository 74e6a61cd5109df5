"""Which chat model the playground talks to, chosen by ``--model`` or the environment.

Specs (``--model``, else ``$LLM_SANDBOX_PLAYGROUND_MODEL``):

=============================  ==============================================================
``NAME`` or ``openai:NAME``    an OpenAI-compatible endpoint through langchain-openai:
                               ``$OPENAI_BASE_URL`` (default: OpenAI) and ``$OPENAI_API_KEY``.
                               Covers OpenAI, vLLM, llama.cpp's server, LM Studio and Ollama's
                               OpenAI API. Model names may contain colons (``qwen2.5:7b``).
``anthropic:NAME``             Claude through langchain-anthropic (``$ANTHROPIC_API_KEY``).
``ollama:NAME``                Ollama's native API through langchain-ollama (``$OLLAMA_HOST``).
``factory:MODULE:CALLABLE``    any LangChain chat model with tool calling: ``CALLABLE()`` returns it.
``scripted:PATH.json``         **test-only**: replays the tool calls and answers of a JSON script.
=============================  ==============================================================

Without a spec, ``$OPENAI_BASE_URL`` or ``$OPENAI_API_KEY`` select an OpenAI-compatible
model (``$OPENAI_MODEL``, default ``gpt-4o-mini``). Otherwise no model is configured: the
chat tab shows :data:`HOW_TO_CONFIGURE` and the rest of the playground still works.

Integration packages are imported only when their spec is used.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_ENV = "LLM_SANDBOX_PLAYGROUND_MODEL"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"

HOW_TO_CONFIGURE = """\
**No chat model is configured**, so the chat is off. The **Code** and **Settings** tabs work without one.

Restart the playground with a model that supports tool calling:

| model | how |
| --- | --- |
| OpenAI | `OPENAI_API_KEY=sk-... llm-sandbox playground --model gpt-4o-mini` |
| any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio) | \
`OPENAI_BASE_URL=http://127.0.0.1:11434/v1 llm-sandbox playground --model qwen2.5` |
| Anthropic | `pip install langchain-anthropic`, then \
`ANTHROPIC_API_KEY=... llm-sandbox playground --model anthropic:claude-sonnet-4-5` |
| Ollama (native API) | `pip install langchain-ollama`, then `llm-sandbox playground --model ollama:qwen2.5` |
| any LangChain chat model | `llm-sandbox playground --model factory:my_module:make_model` |

`--model` can also come from `$LLM_SANDBOX_PLAYGROUND_MODEL`; setting only `OPENAI_BASE_URL` or \
`OPENAI_API_KEY` selects `$OPENAI_MODEL` (default `gpt-4o-mini`).
"""


@dataclass
class ModelChoice:
    """The configured model (or why there is none)."""

    model: Any
    """A LangChain ``BaseChatModel``, or ``None``."""
    label: str
    """What to show the user: ``gpt-4o-mini (OpenAI-compatible, http://...)``."""
    problem: str | None = None
    """Markdown telling the user why there is no model and how to configure one."""

    @property
    def available(self) -> bool:
        return self.model is not None


def resolve_model(spec: str | None = None, env: Mapping[str, str] | None = None) -> ModelChoice:
    """The model for ``spec`` (see the module docstring); never raises for a configuration problem."""
    env = os.environ if env is None else env
    spec = (spec or env.get(MODEL_ENV) or "").strip()
    if not spec:
        if env.get("OPENAI_BASE_URL") or env.get("OPENAI_API_KEY"):
            spec = f"openai:{env.get('OPENAI_MODEL') or DEFAULT_OPENAI_MODEL}"
        else:
            return ModelChoice(None, "no model", HOW_TO_CONFIGURE)
    prefix, _, rest = spec.partition(":")
    makers: dict[str, Callable[[str, Mapping[str, str]], ModelChoice]] = {
        "openai": _openai,
        "anthropic": _anthropic,
        "ollama": _ollama,
        "factory": _factory,
        "scripted": _scripted,
    }
    maker = makers.get(prefix.lower()) if rest else None
    if maker is None:  # a bare model name, possibly with colons (qwen2.5:7b)
        maker, rest = _openai, spec
    try:
        return maker(rest.strip(), env)
    except Exception as exc:  # a broken configuration must not take the playground down
        return ModelChoice(None, "no model", f"**The model `{spec}` could not be set up:** {exc}\n\n{HOW_TO_CONFIGURE}")


def _missing(package: str, spec: str, exc: ImportError) -> ModelChoice:
    return ModelChoice(
        None,
        "no model",
        f"**`--model {spec}` needs the `{package}` package** ({exc}). Install it with "
        f"`pip install {package}` and restart the playground.\n\n{HOW_TO_CONFIGURE}",
    )


def _openai(name: str, env: Mapping[str, str]) -> ModelChoice:
    base_url = env.get("OPENAI_BASE_URL") or None
    api_key = env.get("OPENAI_API_KEY") or None
    if not name:
        name = env.get("OPENAI_MODEL") or DEFAULT_OPENAI_MODEL
    if not base_url and not api_key:
        return ModelChoice(
            None,
            "no model",
            f"**`--model {name}` is an OpenAI-compatible model, but neither `OPENAI_API_KEY` nor "
            f"`OPENAI_BASE_URL` is set.** Set the key for OpenAI, or the base URL of your server.\n\n"
            f"{HOW_TO_CONFIGURE}",
        )
    try:
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr
    except ImportError as exc:
        return _missing("langchain-openai", f"openai:{name}", exc)
    model = ChatOpenAI(
        model=name,
        base_url=base_url,
        api_key=SecretStr(api_key or "not-needed"),  # local servers usually ignore the key
        temperature=0,
        streaming=True,
    )
    return ModelChoice(model, f"{name} (OpenAI-compatible, {base_url or 'api.openai.com'})")


def _anthropic(name: str, env: Mapping[str, str]) -> ModelChoice:
    try:
        module = importlib.import_module("langchain_anthropic")
    except ImportError as exc:
        return _missing("langchain-anthropic", f"anthropic:{name}", exc)
    if not env.get("ANTHROPIC_API_KEY"):
        return ModelChoice(
            None, "no model", f"**`--model anthropic:{name}` needs `ANTHROPIC_API_KEY`.**\n\n{HOW_TO_CONFIGURE}"
        )
    return ModelChoice(module.ChatAnthropic(model=name, temperature=0), f"{name} (Anthropic)")


def _ollama(name: str, env: Mapping[str, str]) -> ModelChoice:
    try:
        module = importlib.import_module("langchain_ollama")
    except ImportError as exc:
        return _missing("langchain-ollama", f"ollama:{name}", exc)
    host = env.get("OLLAMA_HOST") or None
    kwargs: dict[str, Any] = {"model": name, "temperature": 0}
    if host:
        kwargs["base_url"] = host
    return ModelChoice(module.ChatOllama(**kwargs), f"{name} (Ollama, {host or 'default host'})")


def _factory(target: str, env: Mapping[str, str]) -> ModelChoice:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected factory:MODULE:CALLABLE, got factory:{target}")
    factory = getattr(importlib.import_module(module_name), attribute)
    model = factory()
    return ModelChoice(model, f"{getattr(model, 'model_name', None) or type(model).__name__} ({target})")


def _scripted(path: str, env: Mapping[str, str]) -> ModelChoice:
    model = load_scripted_model(path)
    return ModelChoice(model, f"scripted model ({Path(path).name}, for tests)")


# ------------------------------------------------------------------------------ test-only model
@functools.cache
def _scripted_class() -> type:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class _ScriptedChatModel(BaseChatModel):
        """Test-only: replies from a script, like a model that decided to call tools.

        The script is a JSON object ``{"replies": [...]}``; each reply has ``content``
        (text) and/or ``tool_calls`` (``[{"name": "run_code", "args": {...}}]``). The
        n-th model call of a conversation (n = the AI messages already in it) gets the
        n-th reply, so the script is replayed per conversation without shared state.
        """

        replies: list[dict[str, Any]]

        @property
        def _llm_type(self) -> str:
            return "llm-sandbox-scripted"

        def bind_tools(
            self,
            tools: Sequence[Any],
            *,
            tool_choice: str | None = None,
            **kwargs: Any,
        ) -> Any:
            return self

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            index = sum(isinstance(message, AIMessage) for message in messages)
            if index >= len(self.replies):
                reply: dict[str, Any] = {"content": "(the scripted model has no more replies)"}
            else:
                reply = self.replies[index]
            calls = [
                {
                    "name": call["name"],
                    "args": dict(call.get("args") or {}),
                    "id": call.get("id") or f"call_{index}_{number}",
                    "type": "tool_call",
                }
                for number, call in enumerate(reply.get("tool_calls") or [])
            ]
            message = AIMessage(content=str(reply.get("content") or ""), tool_calls=calls)
            return ChatResult(generations=[ChatGeneration(message=message)])

    return _ScriptedChatModel


def scripted_model(replies: Sequence[Mapping[str, Any]]) -> Any:
    """Test-only: a LangChain chat model that replays ``replies`` (see ``_scripted_class``)."""
    return _scripted_class()(replies=[dict(reply) for reply in replies])


def load_scripted_model(path: str | os.PathLike[str]) -> Any:
    """Test-only: :func:`scripted_model` from a JSON file ``{"replies": [...]}`` (or a bare list)."""
    data = json.loads(Path(path).read_text())
    replies = data.get("replies") if isinstance(data, dict) else data
    if not isinstance(replies, list):
        raise ValueError(f"{path}: expected {{'replies': [...]}} or a list of replies")
    return scripted_model(replies)
