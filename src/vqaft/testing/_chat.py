"""Chat completions and models of the fake server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vqaft.testing._api_error import ApiError
from vqaft.testing._faults import Fault
from vqaft.testing._jobs import JobService
from vqaft.testing._responders import ChatRequest, Responder, build_completion, default_responder
from vqaft.testing._store import Store

__all__ = ["BASE_MODELS", "ChatService"]

#: Models ``GET /models`` lists besides the fine-tuned models of succeeded jobs.
BASE_MODELS: tuple[str, ...] = (
    "gpt-4o",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1",
    "gpt-4.1-mini",
)


class ChatService:
    """``/chat/completions`` through a pluggable responder, plus ``/models``."""

    def __init__(
        self, store: Store, jobs: JobService, *, responder: Responder | None, check_models: bool
    ) -> None:
        self._store = store
        self._jobs = jobs
        self.responder: Responder = responder or default_responder
        self.check_models = check_models

    def _check_model(self, model: str) -> None:
        if (
            self.check_models
            and model.startswith("ft:")
            and model not in self._jobs.fine_tuned_models()
        ):
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )

    def complete(
        self, body: Any, *, seq: int, custom_id: str | None = None
    ) -> dict[str, Any] | Fault:
        """Answer one chat request: a completion body, or the ``Fault`` the responder chose."""
        if not isinstance(body, Mapping):
            raise ApiError(400, "Expected a JSON object body.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(
                400,
                "you must provide a model parameter",
                param="model",
                code="missing_required_parameter",
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400,
                "Invalid 'messages': expected a non-empty array.",
                param="messages",
                code="invalid_value",
            )
        if body.get("stream"):
            raise ApiError(
                400, "FakeOpenAI does not emulate streaming; send stream=false.", param="stream"
            )
        self._check_model(model)
        request = ChatRequest(body=body, seq=seq, custom_id=custom_id)
        result = self.responder(request)
        return build_completion(
            request,
            result,
            completion_id=self._store.ids.alnum("chatcmpl-", 29),
            created=self._store.now(),
        )

    def _model(self, model_id: str, owner: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 1715367049, "owned_by": owner}

    def list_models(self) -> dict[str, Any]:
        """``GET /models``: base models and this server's fine-tuned models."""
        data = [self._model(m, "system") for m in BASE_MODELS]
        data += [self._model(m, "org-fake") for m in sorted(self._jobs.fine_tuned_models())]
        return {"object": "list", "data": data}

    def retrieve_model(self, model_id: str) -> dict[str, Any]:
        """``GET /models/{id}``: a 404 ``model_not_found`` for unknown models."""
        if model_id in BASE_MODELS:
            return self._model(model_id, "system")
        if model_id in self._jobs.fine_tuned_models():
            return self._model(model_id, "org-fake")
        raise ApiError(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
