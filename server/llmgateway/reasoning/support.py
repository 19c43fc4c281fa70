"""Which deployments can honour a request's reasoning settings (the router's capability filter).

A deployment's `capabilities.reasoning` says whether its model reasons; unset, the gateway infers it
from the well-known model names below. Beyond that, each wire protocol honours only some settings:

| protocol | effort | budget | thought text |
| --- | --- | --- | --- |
| openai, azure_openai | `reasoning_effort` | no | no (Chat Completions never returns it) |
| anthropic, bedrock (Claude only) | through the effort → budget table (budget.py) | `thinking.budget_tokens` | yes (always returned) |
| gemini | 2.5: via the budget table; 3: `thinkingLevel` | `thinkingBudget` | `includeThoughts` |
| vllm | `reasoning_effort`; none as `chat_template_kwargs.enable_thinking: false` | no | yes (`reasoning_content`) |
| together | `reasoning_effort` (not none) | no | yes (`reasoning_content`) |
| ollama | `think` (true or a level) | no | yes (`thinking`) |
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from llmgateway.reasoning.ask import ReasoningAsk

# Glob patterns of model names that reason, matched on the name without any provider prefix
# (Bedrock's "anthropic.", "us.anthropic." ...) and case-insensitively.
REASONING_MODELS = (
    "o1*",
    "o3*",
    "o4-mini*",
    "gpt-5*",
    "gpt-oss*",
    "claude-3-7-sonnet*",
    "claude-*-4*",
    "claude-4*",
    "gemini-2.5*",
    "gemini-3*",
    "deepseek-r1*",
    "*deepseek-r1*",
    "qwen3*",
    "*qwq*",
    "magistral*",
)
# OpenAI models whose reasoning can be switched off (`reasoning_effort: none`).
_OPENAI_OFF = ("gpt-5.1*", "gpt-5.2*")
# Gemini models whose thinking cannot be switched off.
_GEMINI_ALWAYS_ON = ("gemini-2.5-pro*", "gemini-3*")


def _bare(model: str) -> str:
    """The model name without a provider or region prefix ("us.anthropic.claude-..." → "claude-...")
    or an organisation ("deepseek-ai/DeepSeek-R1" → "deepseek-r1"), lower-cased."""
    name = model.lower().rsplit("/", 1)[-1]
    for marker in ("anthropic.", "deepseek.", "openai.", "qwen."):
        if marker in name:
            name = name.split(marker, 1)[1]
    return name


def _matches(model: str, patterns: tuple[str, ...]) -> bool:
    bare = _bare(model)
    return any(fnmatchcase(bare, pattern) for pattern in patterns)


def reasons(model: str, declared: bool | None) -> bool:
    """Whether the model reasons: the deployment's setting, else the built-in table."""
    return declared if declared is not None else _matches(model, REASONING_MODELS)


def is_claude(model: str) -> bool:
    return _bare(model).startswith("claude")


def gemini_levels(model: str) -> bool:
    """Gemini 3 takes a thinking level; earlier models a budget only."""
    return _bare(model).startswith("gemini-3")


# Azure's api-versions before this one refuse `reasoning_effort` outright (400 unknown parameter).
AZURE_REASONING_EFFORT_SINCE = "2024-12-01"


def lacking(
    protocol: str, model: str, declared: bool | None, ask: ReasoningAsk, api_version: str = ""
) -> str:
    """What the deployment lacks to honour `ask` ("" when it can). `api_version`: Azure's, which
    decides whether `reasoning_effort` may be sent at all."""
    thinks = reasons(model, declared)
    if thinks and protocol == "azure_openai" and api_version[:10] < AZURE_REASONING_EFFORT_SINCE:
        return (
            f"reasoning_effort (api-version {api_version} predates it; "
            f"{AZURE_REASONING_EFFORT_SINCE}-preview or later takes it)"
        )
    if ask.off:
        if not thinks:
            return ""  # nothing to switch off
        if protocol in ("openai", "azure_openai") and not _matches(model, _OPENAI_OFF):
            return "switching reasoning off"
        if protocol == "gemini" and _matches(model, _GEMINI_ALWAYS_ON):
            return "switching reasoning off"
        if protocol == "together":
            return "switching reasoning off"
        return ""
    if not thinks:
        return "reasoning"
    if protocol in ("openai", "azure_openai"):
        if ask.include_thoughts:
            return "returning reasoning text (Chat Completions does not)"
        if ask.budget_tokens is not None:
            return "a reasoning token budget"
    elif protocol == "bedrock" and not is_claude(model):
        return "reasoning settings (Bedrock takes them for Claude models only)"
    elif protocol in ("vllm", "together", "ollama") and ask.budget_tokens is not None:
        return "a reasoning token budget"
    elif protocol == "echo":
        return "reasoning"
    return ""
