"""Turning the ``openai`` SDK's exceptions into vqaft errors, with secrets removed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import openai

from vqaft._secrets import redact
from vqaft.errors import ConfigError, FineTuneJobError

__all__ = ["api_errors", "error_code", "is_transient", "redact"]


def error_code(exc: openai.APIStatusError) -> str | None:
    """The ``code`` (or ``type``) of an API error body, if any."""
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for key in ("code", "type"):
                if inner.get(key):
                    return str(inner[key])
    return None


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(exc.message)


def is_transient(exc: BaseException) -> bool:
    """Whether waiting and trying again may help: dropped connections, timeouts, 5xx, 429
    (but not ``insufficient_quota``, which waiting does not fix)."""
    if isinstance(exc, openai.APIConnectionError):
        return True
    if isinstance(exc, openai.RateLimitError):
        return error_code(exc) != "insufficient_quota"
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code == 409
    return False


@contextmanager
def api_errors(action: str, *, secret: str | None, job_id: str | None = None) -> Iterator[None]:
    """Re-raise SDK errors raised inside the block as vqaft errors whose text names
    ``action`` and holds no secret.

    * 401/403 and ``insufficient_quota`` become :class:`~vqaft.errors.ConfigError` (the
      credentials or the account need attention);
    * any other API error becomes :class:`~vqaft.errors.FineTuneJobError` with the API's
      code and message;
    * connection problems and timeouts become ``FineTuneJobError`` with code
      ``connection_error``.
    """
    try:
        yield
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise ConfigError(
            f"{action}: the API refused the credentials (HTTP {exc.status_code}, "
            f"{error_code(exc) or 'no code'}): {redact(_api_message(exc), secret)}",
            hint="check OPENAI_API_KEY (or the client you passed) and its project's access",
        ) from None
    except openai.APIStatusError as exc:
        code = error_code(exc)
        message = redact(_api_message(exc), secret)
        if code == "insufficient_quota":
            raise ConfigError(
                f"{action}: the account has no quota left: {message}",
                hint="add credit or raise the usage limit, then run again",
            ) from None
        raise FineTuneJobError(
            f"{action}: HTTP {exc.status_code}: {message}", job_id=job_id, code=code
        ) from exc
    except openai.APIConnectionError as exc:
        raise FineTuneJobError(
            f"{action}: cannot reach the API ({type(exc).__name__}: {redact(str(exc), secret)})",
            job_id=job_id,
            code="connection_error",
            hint="check the network and base_url, then run again: the run directory resumes",
        ) from exc
    except openai.OpenAIError as exc:
        raise FineTuneJobError(
            f"{action}: {type(exc).__name__}: {redact(str(exc), secret)}", job_id=job_id
        ) from exc
