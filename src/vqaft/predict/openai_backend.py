"""The ``openai`` predictor: chat completions from any OpenAI-compatible endpoint.

OpenAI, Azure OpenAI (``azure_endpoint`` + ``api_version``; the model is the deployment) and
local servers (vLLM, Ollama, LM Studio: ``base_url``) all work, or pass a ready
``openai.AsyncOpenAI`` as ``client``::

    from vqaft.predict import OpenAIPredictor, predict_file

    predictor = OpenAIPredictor("gpt-4o-2024-08-06", temperature=0, max_tokens=100)
    summary = predict_file("runs/demo/data/test.jsonl", predictor,
                           out="runs/demo/predictions/gpt-4o.jsonl", concurrency=32)

How it sends requests:

* through the SDK's request method (``client.post("/chat/completions", ...)``), with the test
  file's messages passed through as they are and the JSON answer read directly: this skips
  the SDK's per-request type conversion, which costs more CPU than everything else together
  when hundreds of requests are in flight (see docs/benchmarks.md);
* over the SDK's aiohttp transport when it is installed (``pip install 'openai[aiohttp]'``:
  about 30% less CPU per request than the default httpx), else httpx (``transport=``);
* over a few connection pools instead of one (a new one opens when every pool has
  ``connections_per_pool`` requests in flight): httpx scans its whole pool for every request,
  so several small pools cost less than one large one. An injected ``client`` is used as it
  is, with its own pool;
* with vqaft's own retries (:mod:`vqaft.predict.retry`), the SDK's turned off.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from typing import Any

import openai

from vqaft.errors import ConfigError, PredictionError
from vqaft.predict.base import Completion, PredictionRequest, register_predictor
from vqaft.predict.chat_format import RequestOptions, parse_completion
from vqaft.predict.connection import DEFAULT_TIMEOUT, OpenAIConnection, Transport, public_url
from vqaft.predict.retry import Failure, RateLimitGate, RetryPolicy, aretry, fatal_error

__all__ = ["OpenAIPredictor"]


@dataclass
class _Pool:
    client: openai.AsyncOpenAI
    in_flight: int = 0


@register_predictor("openai")
class OpenAIPredictor:
    """Predict with any OpenAI-compatible chat-completions endpoint.

    Args:
        model: the model (a fine-tuned ``ft:...`` id, ``gpt-4o``, a vLLM model name, an Azure
            deployment name).
        base_url: the API root of a compatible server (``http://localhost:8000/v1``).
        api_key: the key; by default it is read from ``api_key_env``.
        api_key_env: the environment variable with the key (default ``OPENAI_API_KEY``,
            ``AZURE_OPENAI_API_KEY`` for Azure).
        azure_endpoint, api_version: an Azure OpenAI resource.
        organization, project: OpenAI organisation and project ids.
        connection: all of the above as one :class:`OpenAIConnection` (instead of them).
        client: a ready ``openai.AsyncOpenAI`` (or ``AsyncAzureOpenAI``) to use instead; its
            own retries are switched off (vqaft retries) and it is never closed by vqaft.
        options: request options (:class:`RequestOptions` or a dict of its fields).
        temperature, top_p, max_tokens, max_completion_tokens, seed: shortcuts that override
            the same fields of ``options``.
        timeout: seconds one request may take (default 120).
        retry: the retry policy (default :class:`RetryPolicy`).
        connections_per_pool: requests in flight per connection pool before another opens.
        transport: HTTP transport under the SDK: ``"auto"`` (aiohttp when installed with
            ``pip install 'openai[aiohttp]'``, else httpx), ``"httpx"`` or ``"aiohttp"``.

    Raises:
        ConfigError: conflicting or invalid settings.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        connection: OpenAIConnection | None = None,
        client: openai.AsyncOpenAI | None = None,
        options: RequestOptions | dict[str, Any] | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        max_completion_tokens: int | None = None,
        seed: int | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        connections_per_pool: int = 16,
        transport: Transport = "auto",
    ) -> None:
        if not model or not isinstance(model, str):
            raise ConfigError("a predictor needs a model name", hint="e.g. model='gpt-4o'")
        given: dict[str, Any] = {
            "base_url": base_url,
            "api_key": api_key,
            "api_key_env": api_key_env,
            "azure_endpoint": azure_endpoint,
            "api_version": api_version,
            "organization": organization,
            "project": project,
        }
        chosen = [name for name, value in given.items() if value is not None]
        if (connection is not None or client is not None) and chosen:
            raise ConfigError(
                f"{', '.join(chosen)} cannot be combined with connection= or client=",
                hint="put the endpoint settings into the connection (or the client) only",
            )
        if connection is not None and client is not None:
            raise ConfigError("give connection= or client=, not both")
        if connections_per_pool < 1:
            raise ConfigError(f"connections_per_pool must be >= 1, got {connections_per_pool}")
        self.model = model
        self.options = _merge_options(
            options,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            max_completion_tokens=max_completion_tokens,
            seed=seed,
        )
        self._option_fields = self.options.to_body()  # checked once, sent with every request
        self.retry = retry or RetryPolicy()
        self.connections_per_pool = connections_per_pool
        if transport not in ("auto", "httpx", "aiohttp"):
            raise ConfigError(
                f"unknown transport {transport!r}", hint="use 'auto', 'httpx' or 'aiohttp'"
            )
        self.transport: Transport = transport
        self._client = client
        if client is not None:
            self.connection: OpenAIConnection | None = None
            self._secret: str | None = str(getattr(client, "api_key", "") or "") or None
            self._timeout = timeout
        else:
            if connection is None:
                connection = OpenAIConnection(
                    timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                    **{k: v for k, v in given.items() if v is not None},
                )
            elif timeout is not None:
                connection = replace(connection, timeout=timeout)
            self.connection = connection
            connection.resolve_key()  # fail now, not at the first request, if there is none
            self._secret = connection.secret()
            self._timeout = None
        self._pools: list[_Pool] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = RateLimitGate()

    def __repr__(self) -> str:
        where = repr(self.connection) if self.connection is not None else "client=<injected>"
        return f"OpenAIPredictor(model={self.model!r}, {where}, options={self._option_fields!r})"

    @property
    def base_url(self) -> str | None:
        """Where requests go (without credentials)."""
        connection = self.connection
        if connection is None:
            return public_url(str(self._client.base_url)) if self._client is not None else None
        if connection.is_azure:
            return public_url(connection.azure_endpoint)
        return public_url(connection.base_url) or "https://api.openai.com/v1"

    def describe(self) -> dict[str, Any]:
        """Settings for run records: model, endpoint, options (never the key)."""
        return {
            "predictor": "openai",
            "model": self.model,
            "base_url": self.base_url,
            "options": self.options.to_body(),
            "max_attempts": self.retry.max_attempts,
        }

    # -- clients ----------------------------------------------------------------------

    def _new_client(self) -> openai.AsyncOpenAI:
        if self.connection is not None:
            return self.connection.async_client(max_retries=0, transport=self.transport)
        if self._client is None:  # pragma: no cover - __init__ sets one of the two
            raise ConfigError("the predictor has neither a connection nor a client")
        if self._timeout is not None:
            return self._client.with_options(max_retries=0, timeout=self._timeout)
        return self._client.with_options(max_retries=0)

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections belong to the event loop that opened them; a new loop (another
            # asyncio.run) starts afresh.
            self._pools, self._loop = [], loop
        if self._client is not None:
            if not self._pools:
                self._pools.append(_Pool(self._new_client()))
            return self._pools[0]
        best = min(self._pools, key=lambda p: p.in_flight, default=None)
        if best is None or best.in_flight >= self.connections_per_pool:
            best = _Pool(self._new_client())
            self._pools.append(best)
        return best

    async def aclose(self) -> None:
        """Close the connection pools this predictor opened (an injected client stays open)."""
        pools, self._pools = self._pools, []
        if self._client is None:
            for pool in pools:
                await pool.client.close()

    async def __aenter__(self) -> OpenAIPredictor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- prediction -------------------------------------------------------------------

    def _fatal(self, failure: Failure) -> PredictionError:
        hint = None
        if failure.kind == "authentication":
            if self.connection is not None:
                hint = (
                    f"check the API key in the {self.connection.key_env} environment variable "
                    f"(or --api-key-env) and the endpoint {self.base_url}"
                )
            else:
                hint = f"check the injected client's API key and its endpoint {self.base_url}"
        return fatal_error(failure, model=self.model, hint=hint)

    async def apredict(self, request: PredictionRequest) -> Completion:
        """Answer one request (retrying as :attr:`retry` allows).

        Raises:
            RequestFailed: this example failed; the run goes on.
            PredictionError: the run must stop (authentication, quota, unknown model).
        """
        body = {"model": self.model, "messages": list(request.messages), **self._option_fields}

        async def send() -> Completion:
            pool = self._pool()
            pool.in_flight += 1
            started = time.perf_counter()
            try:
                raw = await pool.client.post("/chat/completions", body=body, cast_to=bytes)
            finally:
                pool.in_flight -= 1
            return parse_completion(json.loads(raw), latency=time.perf_counter() - started)

        completion, attempts = await aretry(
            send,
            policy=self.retry,
            gate=self._gate,
            fatal=self._fatal,
            secret=self._secret,
            example_id=request.example_id,
        )
        return replace(completion, attempts=attempts)


def _merge_options(
    options: RequestOptions | dict[str, Any] | None, **overrides: Any
) -> RequestOptions:
    if options is None:
        base = RequestOptions()
    elif isinstance(options, RequestOptions):
        base = options
    else:
        try:
            base = RequestOptions(**options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid request options: {exc}") from None
    changes = {k: v for k, v in overrides.items() if v is not None}
    if not changes:
        return base
    try:
        return RequestOptions(**{**base.model_dump(), **changes})
    except ValueError as exc:
        raise ConfigError(f"invalid request options: {exc}") from None
