"""Where an OpenAI-compatible endpoint is and how to authenticate, without leaking the key.

One :class:`OpenAIConnection` describes OpenAI itself, Azure OpenAI, or a local server
(vLLM, Ollama, LM Studio, ...) and builds ``openai`` clients for it:

>>> OpenAIConnection()                                   # api.openai.com, key in OPENAI_API_KEY
OpenAIConnection(base_url=None, api_key_env='OPENAI_API_KEY')
>>> OpenAIConnection(base_url="http://localhost:11434/v1")    # Ollama: no key needed
OpenAIConnection(base_url='http://localhost:11434/v1', api_key_env='OPENAI_API_KEY')
>>> OpenAIConnection(azure_endpoint="https://my.openai.azure.com", api_version="2024-10-21")
OpenAIConnection(azure_endpoint='https://my.openai.azure.com', api_version='2024-10-21', \
api_key_env='AZURE_OPENAI_API_KEY')

The key comes from ``api_key`` or the environment variable ``api_key_env``; it is read when
a client is built, and never appears in ``repr``, ``describe()``, logs or error messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import openai

from vqaft.errors import ConfigError

__all__ = ["LOCAL_PLACEHOLDER_KEY", "OpenAIConnection", "Transport", "public_url"]

LOCAL_PLACEHOLDER_KEY = "EMPTY"
"""Sent as the key to a local server (``base_url`` not on openai.com) when none is set."""

DEFAULT_TIMEOUT = 120.0


def public_url(url: str | None) -> str | None:
    """``url`` without user name, password or query string (safe to log and record).

    >>> public_url("https://user:pw@example.com/v1?key=x")
    'https://example.com/v1'
    """
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


Transport = Literal["auto", "httpx", "aiohttp"]
"""The HTTP transport under the async SDK client (see :meth:`OpenAIConnection.async_client`)."""

_aiohttp_missing = False


def _async_http_client(transport: Transport, *, plain_http: bool) -> Any:
    """The ``http_client`` for an async SDK client, or ``None`` for the SDK's default."""
    global _aiohttp_missing
    if transport not in ("auto", "httpx", "aiohttp"):
        raise ConfigError(
            f"unknown transport {transport!r}", hint="use 'auto', 'httpx' or 'aiohttp'"
        )
    tls: dict[str, Any] = {"verify": False} if plain_http else {}
    if transport == "aiohttp" or (transport == "auto" and not _aiohttp_missing):
        factory = getattr(openai, "DefaultAioHttpClient", None)
        try:
            if factory is None:
                raise RuntimeError("this openai version has no aiohttp transport")
            return factory(**tls)
        except RuntimeError as exc:  # the SDK raises this when aiohttp is not installed
            if transport == "aiohttp":
                raise ConfigError(
                    f"the aiohttp transport is not available: {exc}",
                    hint="pip install 'openai[aiohttp]', or use transport='httpx'",
                ) from None
            _aiohttp_missing = True
    return openai.DefaultAsyncHttpxClient(**tls) if plain_http else None


def _is_openai_host(url: str | None) -> bool:
    host = urlsplit(url).hostname or "" if url else "api.openai.com"
    return host == "openai.com" or host.endswith(".openai.com")


@dataclass(frozen=True, repr=False)
class OpenAIConnection:
    """An OpenAI-compatible endpoint and its credentials.

    Attributes:
        base_url: the API root (``http://localhost:8000/v1`` for vLLM); ``None`` means
            OpenAI (or the ``OPENAI_BASE_URL`` environment variable, as the SDK reads it).
        api_key_env: the environment variable holding the key (default ``OPENAI_API_KEY``;
            ``AZURE_OPENAI_API_KEY`` with ``azure_endpoint``).
        api_key: the key itself, for callers that hold it; prefer the environment.
        azure_endpoint: an Azure OpenAI resource (``https://NAME.openai.azure.com``); the
            model name is then the deployment name.
        api_version: the Azure API version (required with ``azure_endpoint``).
        organization, project: OpenAI organisation and project ids.
        timeout: seconds one request may take.
        default_headers: extra HTTP headers on every request.
    """

    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, compare=False)
    azure_endpoint: str | None = None
    api_version: str | None = None
    organization: str | None = None
    project: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    default_headers: Mapping[str, str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.azure_endpoint is not None and self.base_url is not None:
            raise ConfigError(
                "give either base_url or azure_endpoint, not both",
                hint="Azure OpenAI needs azure_endpoint and api_version",
            )
        if self.azure_endpoint is not None and not self.api_version:
            raise ConfigError(
                "Azure OpenAI needs an api_version",
                hint="e.g. api_version='2024-10-21' (see Azure's API version list)",
            )
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {self.timeout}")

    @property
    def key_env(self) -> str:
        """The environment variable the key is read from."""
        if self.api_key_env:
            return self.api_key_env
        return "AZURE_OPENAI_API_KEY" if self.azure_endpoint else "OPENAI_API_KEY"

    @property
    def is_azure(self) -> bool:
        """Whether this is an Azure OpenAI endpoint."""
        return self.azure_endpoint is not None

    @property
    def is_local(self) -> bool:
        """Whether ``base_url`` points somewhere other than OpenAI or Azure."""
        return self.base_url is not None and not _is_openai_host(self.base_url)

    def __repr__(self) -> str:
        shown: dict[str, Any] = {}
        if self.is_azure:
            shown["azure_endpoint"] = public_url(self.azure_endpoint)
            shown["api_version"] = self.api_version
        else:
            shown["base_url"] = public_url(self.base_url)
        shown["api_key_env"] = self.key_env
        if self.api_key is not None:
            shown["api_key"] = "***"
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"OpenAIConnection({inner})"

    def describe(self) -> dict[str, Any]:
        """Where requests go, as recorded in summaries and state files (never the key)."""
        return {
            "base_url": public_url(self.base_url),
            "azure_endpoint": public_url(self.azure_endpoint),
            "api_version": self.api_version,
            "api_key_env": self.key_env,
        }

    def resolve_key(self) -> str:
        """The API key to send.

        Raises:
            ConfigError: no key is given or set in the environment (and the endpoint is not a
                local server, which gets :data:`LOCAL_PLACEHOLDER_KEY`).
        """
        key = self.api_key or os.environ.get(self.key_env)
        if key:
            return key
        if self.is_local:
            return LOCAL_PLACEHOLDER_KEY
        raise ConfigError(
            f"no API key: the environment variable {self.key_env} is not set",
            hint=f"export {self.key_env}=..., or name another variable with --api-key-env",
        )

    def _client_kwargs(self, max_retries: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "api_key": self.resolve_key(),
            "timeout": self.timeout,
            "max_retries": max_retries,
        }
        if self.organization:
            kwargs["organization"] = self.organization
        if self.project:
            kwargs["project"] = self.project
        if self.default_headers:
            kwargs["default_headers"] = dict(self.default_headers)
        if self.is_azure:
            kwargs["azure_endpoint"] = self.azure_endpoint
            kwargs["api_version"] = self.api_version
        elif self.base_url is not None:
            kwargs["base_url"] = self.base_url
        return kwargs

    @property
    def is_plain_http(self) -> bool:
        """Whether requests go over plain ``http://`` (a local server: no TLS at all)."""
        return self.base_url is not None and urlsplit(self.base_url).scheme == "http"

    def async_client(
        self, *, max_retries: int = 0, transport: Transport = "auto"
    ) -> openai.AsyncOpenAI:
        """A new ``openai.AsyncOpenAI`` (``AsyncAzureOpenAI`` for Azure) for this endpoint.

        Args:
            max_retries: the SDK's own retries; 0 by default, since vqaft retries itself (see
                :mod:`vqaft.predict.retry`).
            transport: the HTTP transport under the SDK: ``"httpx"`` (the SDK's default),
                ``"aiohttp"`` (the SDK's faster option, installed with
                ``pip install 'openai[aiohttp]'``; about 30% less CPU per request), or
                ``"auto"``: aiohttp when installed, else httpx.

        For a plain ``http://`` server the client skips loading the TLS certificate store
        (about 80 ms per client, and the predictor opens one client per connection pool).

        Raises:
            ConfigError: ``transport="aiohttp"`` but aiohttp is not installed.
        """
        kwargs = self._client_kwargs(max_retries)
        http_client = _async_http_client(transport, plain_http=self.is_plain_http)
        if http_client is not None:
            kwargs["http_client"] = http_client
        if self.is_azure:
            return openai.AsyncAzureOpenAI(**kwargs)
        return openai.AsyncOpenAI(**kwargs)

    def sync_client(self, *, max_retries: int = 0) -> openai.OpenAI:
        """A new ``openai.OpenAI`` (``AzureOpenAI`` for Azure) for this endpoint."""
        kwargs = self._client_kwargs(max_retries)
        if self.is_plain_http:
            kwargs["http_client"] = openai.DefaultHttpxClient(verify=False)
        if self.is_azure:
            return openai.AzureOpenAI(**kwargs)
        return openai.OpenAI(**kwargs)

    def secret(self) -> str | None:
        """The key, for redacting it from messages (``None`` if none is available)."""
        key = self.api_key or os.environ.get(self.key_env)
        return key or None
