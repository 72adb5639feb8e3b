"""LLM providers behind one streaming interface, and the router in front of them.

Build everything from settings with :func:`build_router`; the agent loop calls
``setup.router.stream(messages, tools, settings, context=CallContext(...))``.
"""

from assistant.providers.base import (
    ChatSettings,
    Delta,
    Message,
    Model,
    Provider,
    StreamEnd,
    StreamText,
    StreamToolCall,
    StreamUsage,
    ToolCall,
    ToolSpec,
)

# The SDK-backed parts load on first use: importing ``assistant.providers.base``
# (as most of the assistant does) must not pay for importing three LLM SDKs.
_LAZY = {
    "RouterNotice": "assistant.providers.registry",
    "RouterSetup": "assistant.providers.registry",
    "build_provider": "assistant.providers.registry",
    "build_router": "assistant.providers.registry",
    "RetryPolicy": "assistant.providers.retry",
    "Limiter": "assistant.providers.router",
    "Route": "assistant.providers.router",
    "Router": "assistant.providers.router",
    "CallContext": "assistant.providers.usage",
    "UsageGroup": "assistant.providers.usage",
    "UsageSummary": "assistant.providers.usage",
    "summarise_usage": "assistant.providers.usage",
    "format_usage": "assistant.providers.usage",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant.providers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CallContext",
    "ChatSettings",
    "Delta",
    "Limiter",
    "Message",
    "Model",
    "Provider",
    "RetryPolicy",
    "Route",
    "Router",
    "RouterNotice",
    "RouterSetup",
    "StreamEnd",
    "StreamText",
    "StreamToolCall",
    "StreamUsage",
    "ToolCall",
    "ToolSpec",
    "UsageGroup",
    "UsageSummary",
    "build_provider",
    "build_router",
    "format_usage",
    "summarise_usage",
]
