"""The GitHub App: a webhook server that reviews workflow changes with the engine.

The server is a thin shell: fetch what a delivery touches, call :mod:`bot.engine`,
render, post. ``create_app(config)`` builds it; ``wheelwatch serve`` runs it.
"""

from bot.app.config import AppConfig, ConfigurationError

__all__ = ["AppConfig", "ConfigurationError"]
