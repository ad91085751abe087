"""Training-file checks and the made-up training results of a fake fine-tuning job."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from vqaft.testing._responders import estimate_prompt_tokens, estimate_text_tokens

__all__ = ["RESULT_COLUMNS", "TrainingFileFacts", "analyse_training_file", "metrics_csv"]

#: Columns of the result file's CSV (before base64 encoding), as OpenAI writes them.
RESULT_COLUMNS: tuple[str, ...] = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


@dataclass(frozen=True)
class TrainingFileFacts:
    """What the fake learns from a chat-format JSONL file."""

    examples: int
    tokens: int
    problem: str | None  # the first reason the file is invalid, or None


def analyse_training_file(content: bytes, *, min_examples: int) -> TrainingFileFacts:
    """Count examples and estimated tokens; find the first format problem, if any."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return TrainingFileFacts(0, 0, "the file is not UTF-8 text")
    examples = 0
    tokens = 0
    problem: str | None = None
    # Split at "\n" only: str.splitlines also splits at U+2028 and U+0085.
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problem = problem or f"line {lineno} is not valid JSON"
            continue
        messages = record.get("messages") if isinstance(record, dict) else None
        if isinstance(messages, list) and messages:
            tokens += estimate_prompt_tokens(messages)
        elif isinstance(record, dict) and isinstance(record.get("input"), dict):
            tokens += estimate_text_tokens(line)
        else:
            problem = problem or f'line {lineno} has no non-empty "messages" list'
            continue
        examples += 1
    if problem is None and examples < min_examples:
        problem = f"the file has {examples} example(s), but must have at least {min_examples}"
    return TrainingFileFacts(examples, tokens, problem)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.5f}"


def metrics_csv(
    *, seed: str, total_steps: int, has_validation: bool
) -> tuple[str, list[dict[str, float]]]:
    """A plausible, deterministic step-metrics CSV (falling loss) and its rows as dicts."""
    rng = random.Random(seed)  # noqa: S311 - made-up metrics for a test double
    eval_every = max(1, total_steps // 10)
    lines = [",".join(RESULT_COLUMNS)]
    rows: list[dict[str, float]] = []
    for step in range(1, total_steps + 1):
        progress = step / total_steps
        loss = max(0.0, 0.2 + 1.8 * math.exp(-4 * progress) + rng.uniform(-0.05, 0.05))
        acc = min(1.0, max(0.0, 1 - loss / 2.2 + rng.uniform(-0.02, 0.02)))
        row: dict[str, float] = {"step": float(step), "train_loss": loss, "train_accuracy": acc}
        valid_loss = valid_acc = full_loss = full_acc = None
        if has_validation and (step % eval_every == 0 or step == total_steps):
            valid_loss = loss + 0.05 + rng.uniform(0, 0.05)
            valid_acc = max(0.0, acc - 0.03)
            row.update(valid_loss=valid_loss, valid_mean_token_accuracy=valid_acc)
        if has_validation and step == total_steps:
            full_loss = loss + 0.04
            full_acc = max(0.0, acc - 0.02)
            row.update(full_valid_loss=full_loss, full_valid_mean_token_accuracy=full_acc)
        rows.append(row)
        lines.append(
            ",".join(
                [
                    str(step),
                    _fmt(loss),
                    _fmt(acc),
                    _fmt(valid_loss),
                    _fmt(valid_acc),
                    _fmt(full_loss),
                    _fmt(full_acc),
                ]
            )
        )
    return "\n".join(lines) + "\n", rows
