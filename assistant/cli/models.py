"""``mlchat models``: what each configured provider offers, asked from the provider itself.

For every provider with a key (or, for ``local``, a base URL) it lists the
models the API reports (OpenAI, Anthropic and OpenAI-compatible servers:
``GET /v1/models``; Gemini: the models that can generate content) and marks
the one mlchat uses by default. A provider that cannot be reached is shown
with the reason; the others are still listed. Register it with
:func:`add_models` on the CLI's subcommand tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
_TIMEOUT_S = 20.0


def add_models(commands: Any) -> None:
    """Register ``mlchat models`` on the CLI's subcommand tree."""
    parser = commands.add_parser(
        "models",
        help="list the models each configured provider offers",
        description=(
            "Ask every configured provider (a key, or MLCHAT_LOCAL_BASE_URL for a local server) "
            "which models it offers, and show the one mlchat uses by default."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the lists as JSON")
    parser.set_defaults(handler=run_models_command)


def run_models_command(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run ``mlchat models``; returns 0 when at least one provider answered."""
    from assistant.settings import Settings

    stream = out or sys.stdout
    settings = Settings.from_env(dict(environ) if environ is not None else None)
    listed = asyncio.run(_list_all(settings))
    if not listed:
        stream.write(
            "No language model provider is configured: set OPENAI_API_KEY, ANTHROPIC_API_KEY, "
            "GEMINI_API_KEY or MLCHAT_LOCAL_BASE_URL.\n"
        )
        return EXIT_FAILED
    if args.json:
        stream.write(json.dumps(listed, indent=2) + "\n")
    else:
        for entry in listed:
            stream.write(f"{entry['provider']} ({entry['endpoint']})\n")
            if entry["error"]:
                stream.write(f"  could not list models: {entry['error']}\n")
            for model in entry["models"]:
                mark = "  (default)" if model == entry["default"] else ""
                stream.write(f"  - {model}{mark}\n")
    return EXIT_OK if any(not entry["error"] for entry in listed) else EXIT_FAILED


async def _list_all(settings: Any) -> list[dict[str, Any]]:
    from assistant.providers.registry import build_provider, is_usable

    entries = []
    for name in ("openai", "anthropic", "gemini", "local"):
        if not is_usable(settings, name):
            continue
        provider = build_provider(settings, name, timeout_s=_TIMEOUT_S)
        entry: dict[str, Any] = {
            "provider": name,
            "endpoint": getattr(provider, "endpoint", ""),
            "default": settings.default_model(name),
            "models": [],
            "error": None,
        }
        try:
            async with asyncio.timeout(_TIMEOUT_S):
                entry["models"] = await provider.models()  # type: ignore[attr-defined]
        except Exception as exc:  # one provider failing must not hide the others
            entry["error"] = str(exc) or type(exc).__name__
        finally:
            await provider.aclose()  # type: ignore[attr-defined]
        entries.append(entry)
    return entries
