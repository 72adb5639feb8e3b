"""LLM providers behind one :class:`Model` protocol, and the wrappers in front of them.

The whole model-call stack lives in this package, outermost first::

    ThreadModels (thread_models.py)   the conversation's chosen provider and model
      OfflineAtCap (spend_gate.py)    the offline assistant once a spend cap is reached
        Router (router.py)            rate limits, retry, fallback, response cache (cache.py)
          a provider                  openai.py, openai_responses.py, anthropic.py,
                                      gemini.py, local.py (their shared base in _adapter.py);
                                      SDK errors mapped in sdk_errors.py

Each layer implements :class:`Model`, so the agent loop holds any of them.
Build a router from settings with :func:`build_router`; the loop calls
``model.stream(messages, tools, settings, context=CallContext(...))``.
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
from tools._lazy import lazy_exports

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
    "OfflineAtCap": "assistant.providers.spend_gate",
    "ThreadModels": "assistant.providers.thread_models",
    "CallContext": "assistant.providers.usage",
    "UsageGroup": "assistant.providers.usage",
    "UsageSummary": "assistant.providers.usage",
    "summarise_usage": "assistant.providers.usage",
    "format_usage": "assistant.providers.usage",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "CallContext",
    "ChatSettings",
    "Delta",
    "Limiter",
    "Message",
    "Model",
    "OfflineAtCap",
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
    "ThreadModels",
    "ToolCall",
    "ToolSpec",
    "UsageGroup",
    "UsageSummary",
    "build_provider",
    "build_router",
    "format_usage",
    "summarise_usage",
]
