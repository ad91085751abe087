"""Estimate the tokens and the price of fine-tuning on a chat-format JSONL file, offline.

OpenAI bills training by *trained tokens*: every token of every training example (text and
images), once per epoch. :func:`estimate` streams the file and adds up, per example:

* **text tokens** - the chat formatting overhead (3 per message plus the role, 3 per example)
  and the text. They are *estimated* without downloading a tokenizer (see
  :mod:`vqaft.messages.text_tokens` for how, and its measured error: about 5 % high on
  OCR-VQA-style prompts); with tiktoken's o200k encoding already cached they are exact;
* **image tokens** - exact, from the size in each image's header and the part's ``detail``:
  ``low`` = 85; ``high`` (and ``auto``, billed as high) = 85 + 170 per 512-px tile after
  fitting in 2048 x 2048 and scaling the short side to 768 (gpt-4o's published rule,
  :mod:`vqaft.messages.vision_tokens`). An http(s) image's size is unknown offline, so it is
  counted at the most a high-detail image can cost (1,445 tokens).

>>> est = estimate("data/train.jsonl", epochs=3)  # doctest: +SKIP
>>> print(est.format_text())  # doctest: +SKIP
>>> est.cost_usd  # doctest: +SKIP
4.12
"""

from __future__ import annotations

import json
import math
import statistics
from array import array
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from vqaft.errors import ConfigError
from vqaft.messages._validate_images import ImageInspector
from vqaft.messages._validate_records import MAX_REMOTE_TILES, check_record
from vqaft.messages.text_tokens import TextTokenCounter, default_counter
from vqaft.messages.validate import MAX_EXAMPLE_TOKENS

__all__ = [
    "DEFAULT_MODEL",
    "MAX_EPOCHS",
    "MODEL_PRICES",
    "CostEstimate",
    "ModelPrice",
    "TokenDistribution",
    "auto_epochs",
    "estimate",
    "model_price",
]

DEFAULT_MODEL = "gpt-4o-2024-08-06"
MAX_EPOCHS = 50
_SKIPPED_LISTED = 20


class ModelPrice(BaseModel):
    """Training price and image-token rule of one fine-tunable model.

    Attributes:
        model: the snapshot name, as given to the fine-tuning API.
        training_per_million: USD per 1M trained tokens.
        image_base_tokens: tokens of any image (all a ``detail="low"`` image costs).
        image_tile_tokens: tokens per 512-px tile of a high-detail image.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    training_per_million: float = Field(gt=0)
    image_base_tokens: int = 85
    image_tile_tokens: int = 170

    @property
    def max_image_tokens(self) -> int:
        """The most one high-detail image can cost (used for http(s) images)."""
        return self.image_base_tokens + self.image_tile_tokens * MAX_REMOTE_TILES


MODEL_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-2024-08-06": ModelPrice(model="gpt-4o-2024-08-06", training_per_million=25.0),
    # gpt-4o-mini bills images ~33x more tokens (at a ~33x lower price per token).
    "gpt-4o-mini-2024-07-18": ModelPrice(
        model="gpt-4o-mini-2024-07-18",
        training_per_million=3.0,
        image_base_tokens=2833,
        image_tile_tokens=5667,
    ),
}
"""OpenAI's published training prices (USD per 1M tokens) and image-token rules; check
https://openai.com/api/pricing before relying on a figure, and pass ``price_per_million`` to
override."""


def model_price(model: str) -> ModelPrice:
    """The price-table entry of ``model``.

    Raises:
        ConfigError: the model is not in :data:`MODEL_PRICES`; the message lists those that
            are.
    """
    try:
        return MODEL_PRICES[model]
    except KeyError:
        raise ConfigError(
            f"no training price known for model {model!r}",
            hint="known models: "
            + ", ".join(sorted(MODEL_PRICES))
            + "; or pass price_per_million (the gpt-4o image-token rule is then assumed)",
        ) from None


def auto_epochs(n_examples: int) -> int:
    """The epoch count OpenAI's ``n_epochs="auto"`` is documented to pick for a dataset size.

    The default is 3 epochs, raised for small datasets so training sees at least about 100
    examples (at most 25 epochs), and lowered for large ones so it sees at most about 25,000
    (at least 1 epoch). OpenAI makes the final choice when the job starts; the job object
    reports the value it used.

    >>> auto_epochs(10), auto_epochs(150), auto_epochs(20_000)
    (10, 3, 1)
    """
    if n_examples <= 0:
        return 3
    if n_examples * 3 < 100:
        return min(25, 100 // n_examples)
    if n_examples * 3 > 25_000:
        return max(1, 25_000 // n_examples)
    return 3


class TokenDistribution(BaseModel):
    """Tokens per example over a file (text and images)."""

    min: int = 0
    median: float = 0.0
    mean: float = 0.0
    p90: int = 0
    p95: int = 0
    max: int = 0
    max_line: int | None = None

    @classmethod
    def of(cls, values: array[int], lines: array[int]) -> TokenDistribution:
        """Summarise per-example token counts (nearest-rank percentiles)."""
        if not values:
            return cls()
        ordered = sorted(values)
        n = len(ordered)
        top = max(range(n), key=values.__getitem__)

        def rank(p: float) -> int:
            return ordered[max(0, math.ceil(p * n) - 1)]

        return cls(
            min=ordered[0],
            median=float(statistics.median(ordered)),
            mean=round(sum(ordered) / n, 1),
            p90=rank(0.90),
            p95=rank(0.95),
            max=ordered[-1],
            max_line=lines[top],
        )


class CostEstimate(BaseModel):
    """What fine-tuning on a file should cost (see :func:`estimate`)."""

    file: str
    model: str
    price_per_million: float
    price_source: Literal["table", "argument"]
    epochs: int
    epochs_requested: int | Literal["auto"]
    examples: int
    skipped_lines: int = Field(0, description="lines that hold no usable example")
    skipped_first_lines: list[int] = Field(default_factory=list)
    text_tokens: int
    image_tokens: int
    images: int
    remote_images: int = Field(0, description="http(s) images, counted at the maximum")
    tokens_per_epoch: int
    trained_tokens: int
    cost_usd: float
    per_example: TokenDistribution
    examples_over_limit: int = Field(0, description=f"examples above {MAX_EXAMPLE_TOKENS:,}")
    token_counter: str
    text_tokens_exact: bool
    notes: list[str] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return self.model_dump(mode="json")

    def format_text(self) -> str:
        """Human-readable rendering."""
        d = self.per_example
        approx = "" if self.text_tokens_exact else "~"
        epochs = f"{self.epochs}" + (" (auto)" if self.epochs_requested == "auto" else "")
        rows = [
            f"{self.file}: {self.examples:,} examples for {self.model}",
            f"  text tokens      {approx}{self.text_tokens:>14,}",
            f"  image tokens      {self.image_tokens:>14,}  ({self.images:,} images)",
            f"  tokens per epoch {approx}{self.tokens_per_epoch:>14,}",
            f"  epochs            {epochs:>14}",
            f"  trained tokens   {approx}{self.trained_tokens:>14,}",
            f"  price             {'$' + format(self.price_per_million, 'g'):>14} per 1M tokens"
            f" ({'price table' if self.price_source == 'table' else 'given'})",
            f"  estimated cost    {'$' + format(self.cost_usd, ',.2f'):>14}",
            f"  per example       min {d.min:,}, median {d.median:,.0f}, p90 {d.p90:,}, "
            f"p95 {d.p95:,}, max {d.max:,}" + (f" (line {d.max_line})" if d.max_line else ""),
        ]
        if self.skipped_lines:
            rows.append(
                f"  skipped           {self.skipped_lines:,} unusable lines (first: "
                f"{', '.join(map(str, self.skipped_first_lines[:5]))}); run `vqaft validate`"
            )
        rows.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(rows)


def _resolve_epochs(epochs: object) -> int | Literal["auto"]:
    if epochs == "auto":
        return "auto"
    if isinstance(epochs, int) and not isinstance(epochs, bool) and 1 <= epochs <= MAX_EPOCHS:
        return epochs
    raise ConfigError(
        f"epochs must be 'auto' or a whole number from 1 to {MAX_EPOCHS}, got {epochs!r}",
        hint="OpenAI's default is 'auto' (3 for mid-sized datasets)",
    )


def estimate(
    path: str | PathLike[str],
    *,
    epochs: int | str = 3,
    model: str = DEFAULT_MODEL,
    price_per_million: float | None = None,
    token_counter: TextTokenCounter | None = None,
    progress: bool = False,
) -> CostEstimate:
    """Estimate trained tokens and cost of fine-tuning ``model`` on the file at ``path``.

    Args:
        path: a training JSONL file (validation files are not billed).
        epochs: number of passes, or ``"auto"``: OpenAI then chooses by dataset size
            (:func:`auto_epochs` gives the documented rule; the job reports the final value).
        model: a model of :data:`MODEL_PRICES` (its price and image-token rule are used).
        price_per_million: USD per 1M trained tokens, overriding the table (for new prices
            or models; an unknown model then uses the gpt-4o image-token rule).
        token_counter: how text tokens are counted (default: :func:`default_counter`).
        progress: show a tqdm progress bar.

    Raises:
        ConfigError: unknown model without ``price_per_million``, a bad ``epochs`` or price,
            or a missing file.

    >>> est = estimate("train.jsonl", epochs="auto", model="gpt-4o-2024-08-06")  # doctest: +SKIP
    >>> est.trained_tokens == est.tokens_per_epoch * est.epochs  # doctest: +SKIP
    True
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError("file not found", file=str(file), hint="check the path")
    requested = _resolve_epochs(epochs)
    notes: list[str] = []
    if price_per_million is not None:
        if not (isinstance(price_per_million, (int, float)) and price_per_million > 0):
            raise ConfigError(f"price_per_million must be positive, got {price_per_million!r}")
        base = MODEL_PRICES.get(model)
        if base is None:
            notes.append(
                f"{model} is not in the price table: images are counted with gpt-4o's rule"
            )
            base = ModelPrice(model=model, training_per_million=price_per_million)
        price = base.model_copy(update={"training_per_million": float(price_per_million)})
        source: Literal["table", "argument"] = "argument"
    else:
        price = model_price(model)
        source = "table"
    counter = token_counter or default_counter()
    inspector = ImageInspector()

    totals: array[int] = array("q")
    lines: array[int] = array("q")
    text_tokens = image_tokens = images = remote_images = over_limit = 0
    skipped: list[int] = []
    skipped_count = 0
    bar = tqdm(
        total=file.stat().st_size, unit="B", unit_scale=True, desc=file.name, disable=not progress
    )
    with file.open("rb") as handle, bar:
        for lineno, raw in enumerate(handle, 1):
            bar.update(len(raw))
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            check = check_record(record, inspector, counter.count) if record is not None else None
            if check is None or not check.usable:
                skipped_count += 1
                if len(skipped) < _SKIPPED_LISTED:
                    skipped.append(lineno)
                continue
            img, remote = check.image_tokens(price.image_base_tokens, price.image_tile_tokens)
            total = check.text_tokens + img
            text_tokens += check.text_tokens
            image_tokens += img
            images += len(check.images)
            remote_images += remote
            over_limit += total > MAX_EXAMPLE_TOKENS
            totals.append(total)
            lines.append(lineno)

    n = len(totals)
    n_epochs = auto_epochs(n) if requested == "auto" else requested
    per_epoch = text_tokens + image_tokens
    trained = per_epoch * n_epochs
    if counter.exact:
        notes.append(counter.description + ".")
    else:
        notes.append(
            "text token counts are an estimate: no tokenizer is downloaded, so text is "
            "counted with o200k's pre-split rules and a per-piece cost fitted on English "
            "(about 5% high on OCR-VQA-style prompts, more off on other scripts or code); "
            "image tokens are exact, from each image's size and detail"
        )
    if requested == "auto":
        notes.append(
            f"epochs='auto': OpenAI picks the epoch count from the dataset size (3 by default, "
            f"more for small sets, fewer for large ones); {n_epochs} is what its documented "
            "rule gives for this file, and the job reports the value it used"
        )
    if remote_images:
        notes.append(
            f"{remote_images:,} http(s) images are counted at the most a high-detail image "
            f"costs ({price.max_image_tokens:,} tokens): their size is unknown offline"
        )
    if over_limit:
        notes.append(
            f"{over_limit:,} examples exceed {MAX_EXAMPLE_TOKENS:,} tokens and would be "
            "rejected; run `vqaft validate`"
        )
    return CostEstimate(
        file=str(file),
        model=model,
        price_per_million=price.training_per_million,
        price_source=source,
        epochs=n_epochs,
        epochs_requested=requested,
        examples=n,
        skipped_lines=skipped_count,
        skipped_first_lines=skipped,
        text_tokens=text_tokens,
        image_tokens=image_tokens,
        images=images,
        remote_images=remote_images,
        tokens_per_epoch=per_epoch,
        trained_tokens=trained,
        cost_usd=trained * price.training_per_million / 1e6,
        per_example=TokenDistribution.of(totals, lines),
        examples_over_limit=over_limit,
        token_counter=counter.name,
        text_tokens_exact=counter.exact,
        notes=notes,
    )
