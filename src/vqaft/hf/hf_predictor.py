"""The ``hf`` predictor: batched generation with transformers, from a base model or an adapter.

For small runs on one machine (a few hundred test questions); for scale, serve the model with
vLLM and point the ``openai`` predictor at it (docs/open-models.md)::

    from vqaft.predict import predict_file
    from vqaft.hf import HFPredictor

    # base model
    predictor = HFPredictor("Qwen/Qwen2.5-VL-3B-Instruct", batch_size=16, max_new_tokens=32)
    # the adapter the trl fine-tuner wrote (its base model is read from its metadata)
    predictor = HFPredictor("runs/covers/finetune/adapter", batch_size=16)
    summary = predict_file("runs/covers/data/test.jsonl", predictor, concurrency=32)

The runner sends requests one by one (``apredict``) with bounded concurrency; this predictor
gathers those in flight into batches of up to ``batch_size`` and generates each batch in one
``generate`` call in a worker thread. Give the runner a ``concurrency`` of at least
``batch_size`` (twice is better) so that batches fill up. :meth:`HFPredictor.predict_batch` is
the synchronous way in.

One example's bad image fails that example only (a ``RequestFailed`` record); a batch that runs
out of GPU memory is split in halves and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqaft.errors import ConfigError, VqaftError
from vqaft.hf.loading import (
    Precision,
    Quantization,
    load_model,
    load_processor,
    require_hf,
    resolve_precision,
)
from vqaft.hf.metadata import ADAPTER_CONFIG, is_adapter_dir, read_adapter_metadata
from vqaft.predict.base import Completion, PredictionRequest, RequestFailed

__all__ = ["HFPredictor", "resolve_adapter"]

_Pending = tuple[PredictionRequest, "asyncio.Future[Completion]"]


def resolve_adapter(
    model: str, adapter: str | None, base_model: str | None
) -> tuple[str, str | None, dict[str, str | None]]:
    """Work out ``(base model, adapter folder or None, loader classes)``.

    ``model`` may be a base model (hub id or folder) or an adapter folder; an adapter's base
    model comes from ``base_model``, else its ``vqaft_adapter.json``, else PEFT's
    ``adapter_config.json``.

    Raises:
        ConfigError: an adapter whose base model cannot be found.
    """
    if adapter is None and is_adapter_dir(model):
        adapter = model
    classes: dict[str, str | None] = {"processor_class": None, "model_class": None}
    if adapter is None:
        return base_model or model, None, classes
    if not is_adapter_dir(adapter):
        raise ConfigError(
            f"{adapter!r} is not an adapter folder (no {ADAPTER_CONFIG})",
            hint="pass the folder the trl fine-tuner wrote (its run directory's adapter/)",
        )
    meta = read_adapter_metadata(adapter)
    if meta is not None:
        classes = {"processor_class": meta.processor_class, "model_class": meta.model_class}
    base = base_model or (meta.base_model if meta is not None else None)
    if base is None:
        try:
            config = json.loads((Path(adapter) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"unreadable adapter config: {exc}", file=adapter) from None
        base = config.get("base_model_name_or_path") if isinstance(config, dict) else None
    if not isinstance(base, str) or not base:
        raise ConfigError(
            f"the adapter {adapter!r} does not say which base model it belongs to",
            hint="pass base_model='...'",
        )
    return base, adapter, classes


class HFPredictor:
    """Answer test questions with a local transformers model; registered as ``hf``.

    Args:
        model: a base model (hub id or folder) or an adapter folder; recorded as the
            predictions' ``model``.
        adapter: a LoRA adapter folder to apply to ``model`` (instead of passing it as
            ``model``).
        base_model: the base model of an adapter (default: from its metadata).
        batch_size: requests generated together.
        max_new_tokens: the longest answer, in tokens (``max_tokens`` is accepted as an alias,
            as the ``openai`` predictor names it).
        temperature: 0 for greedy decoding (default), else sampling at this temperature.
        top_p: nucleus sampling (with ``temperature > 0``).
        precision: ``auto`` (bf16/fp16 on a GPU, fp32 on CPU), ``bf16``, ``fp16``, ``fp32``.
        quantization: ``none``, ``4bit`` or ``8bit`` (bitsandbytes, CUDA).
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``... (default: cuda when available).
        merge_adapter: merge the adapter into the base weights (faster generation).
        processor_class, model_class: ``"module:Class"`` loaders (default: the adapter's
            metadata, else transformers' Auto classes).
        linger: seconds to wait for more requests before generating a partial batch.
        torch_threads: CPU threads for torch.

    Raises:
        ConfigError: the ``[hf]`` extra is missing, or the model or adapter cannot be loaded.
    """

    def __init__(
        self,
        model: str,
        *,
        adapter: str | None = None,
        base_model: str | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 64,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        precision: Precision = "auto",
        quantization: Quantization = "none",
        device: str | None = None,
        merge_adapter: bool = False,
        processor_class: str | None = None,
        model_class: str | None = None,
        linger: float = 0.01,
        torch_threads: int | None = None,
    ) -> None:
        require_hf()
        if batch_size < 1 or (max_tokens or max_new_tokens) < 1 or temperature < 0:
            raise ConfigError(
                "batch_size and max_new_tokens must be >= 1 and temperature >= 0",
                hint=f"got batch_size={batch_size}, max_new_tokens={max_tokens or max_new_tokens}"
                f", temperature={temperature}",
            )
        import torch

        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        self.model = str(model)
        self.batch_size = batch_size
        self.max_new_tokens = max_tokens or max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.linger = linger
        base, adapter_dir, classes = resolve_adapter(self.model, adapter, base_model)
        self.base_model = base
        self.adapter = adapter_dir
        self.precision = resolve_precision(precision)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = load_processor(base, processor_class or classes["processor_class"])
        self.processor.tokenizer.padding_side = "left"
        network = load_model(
            base,
            model_class=model_class or classes["model_class"],
            precision=self.precision,
            quantization=quantization,
        )
        if quantization == "none":
            network = network.to(self.device)
        if adapter_dir is not None:
            from peft import PeftModel

            network = PeftModel.from_pretrained(network, adapter_dir)
            if merge_adapter:
                network = network.merge_and_unload()
        network.eval()
        self.network = network
        self._stop_ids = self._eos_ids()
        self._pad_id = self.processor.tokenizer.pad_token_id
        if self._pad_id is None:
            self._pad_id = next(iter(self._stop_ids), 0)
        self._generate_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"HFPredictor(model={self.model!r}, base_model={self.base_model!r}, "
            f"device={self.device!r}, batch_size={self.batch_size})"
        )

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (
            getattr(self.network.generation_config, "eos_token_id", None),
            self.processor.tokenizer.eos_token_id,
        ):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        return ids

    # -- synchronous, batched -----------------------------------------------------------

    def predict_batch(
        self, requests: Sequence[PredictionRequest]
    ) -> list[Completion | RequestFailed]:
        """Answer ``requests`` (in chunks of ``batch_size``); a failure is returned in place.

        >>> answers = predictor.predict_batch(requests)  # doctest: +SKIP
        >>> [a.text for a in answers if isinstance(a, Completion)]  # doctest: +SKIP
        """
        results: list[Completion | RequestFailed] = []
        for start in range(0, len(requests), self.batch_size):
            results.extend(self._answer(list(requests[start : start + self.batch_size])))
        return results

    def _answer(self, requests: list[PredictionRequest]) -> list[Completion | RequestFailed]:
        from vqaft.hf.data import convert_messages

        out: list[Completion | RequestFailed | None] = [None] * len(requests)
        ready: list[tuple[int, str, list[Any]]] = []
        for index, request in enumerate(requests):
            try:
                example = convert_messages(
                    list(request.messages), line=request.line, example_id=request.example_id
                )
                images = example.pil_images()
                text = self.processor.apply_chat_template(
                    example.prompt, tokenize=False, add_generation_prompt=True
                )
            except VqaftError as exc:
                out[index] = RequestFailed(
                    exc.message, kind="bad_request", example_id=request.example_id, hint=exc.hint
                )
                continue
            ready.append((index, str(text), images))
        for (index, _, _), answer in zip(ready, self._generate_split(ready), strict=True):
            out[index] = answer
        return [item for item in out if item is not None]

    def _generate_split(
        self, ready: list[tuple[int, str, list[Any]]]
    ) -> list[Completion | RequestFailed]:
        if not ready:
            return []
        import torch

        try:
            return list(self._generate([t for _, t, _ in ready], [i for _, _, i in ready]))
        except torch.OutOfMemoryError as exc:
            if len(ready) == 1:
                return [RequestFailed(f"out of memory: {exc}"[:500], kind="out_of_memory")]
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(ready) // 2
            return self._generate_split(ready[:half]) + self._generate_split(ready[half:])
        except Exception as exc:  # one broken batch must not end the run
            message = f"generation failed: {type(exc).__name__}: {exc}"[:500]
            return [RequestFailed(message, kind="generation_error") for _ in ready]

    def _generate(self, texts: list[str], images: list[list[Any]]) -> list[Completion]:
        import torch

        started = time.perf_counter()
        inputs = self.processor(
            text=texts,
            images=images if any(images) else None,
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        options: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "pad_token_id": self._pad_id,
            "do_sample": self.temperature > 0,
        }
        if self.temperature > 0:
            options["temperature"] = self.temperature
            if self.top_p is not None:
                options["top_p"] = self.top_p
        with self._generate_lock, torch.inference_mode():
            output = self.network.generate(**inputs, **options)
        latency = time.perf_counter() - started
        prompt_length = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        completions = []
        for row, used in zip(output[:, prompt_length:].tolist(), prompt_tokens, strict=True):
            stop = next((k for k, token in enumerate(row) if token in self._stop_ids), None)
            answer_ids = row if stop is None else row[:stop]
            answer_ids = [t for t in answer_ids if t != self._pad_id]
            generated = len(row) if stop is None else stop + 1
            text = self.processor.tokenizer.decode(answer_ids, skip_special_tokens=True)
            completions.append(
                Completion(
                    text=text.strip(),
                    finish_reason="length" if stop is None else "stop",
                    usage={
                        "prompt_tokens": int(used),
                        "completion_tokens": generated,
                        "total_tokens": int(used) + generated,
                    },
                    latency=latency,
                )
            )
        return completions

    def predict(self, request: PredictionRequest) -> Completion:
        """Answer one request synchronously.

        Raises:
            RequestFailed: this example could not be answered.
        """
        answer = self.predict_batch([request])[0]
        if isinstance(answer, RequestFailed):
            raise answer
        return answer

    # -- asynchronous: the runner's way in ------------------------------------------------

    async def apredict(self, request: PredictionRequest) -> Completion:
        """Queue ``request`` for the next batch and wait for its answer."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None or self._worker is None:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._batches(self._queue))
        future: asyncio.Future[Completion] = loop.create_future()
        await self._queue.put((request, future))
        return await future

    async def _batches(self, queue: asyncio.Queue[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.linger
            while len(batch) < self.batch_size:
                try:
                    batch.append(queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            live = [(r, f) for r, f in batch if not f.done()]
            if not live:
                continue
            try:
                answers = await asyncio.to_thread(self.predict_batch, [r for r, _ in live])
            except BaseException as exc:
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, future), answer in zip(live, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, RequestFailed):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def aclose(self) -> None:
        """Stop the batching task (the model stays loaded for reuse)."""
        worker, self._worker = self._worker, None
        self._queue = None
        self._loop = None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await worker

    def close(self) -> None:
        """Free the model's memory (the predictor cannot be used afterwards)."""
        import torch

        del self.network
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
