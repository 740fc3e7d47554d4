"""What model calls cost: tokens times the price table in eval.yaml (USD per million tokens)."""

from __future__ import annotations

from evalharness.settings import EvalSettings


def price(settings: EvalSettings, model: str, usage: dict[str, int]) -> float | None:
    """USD for this usage; None when the model has no price."""
    entry = settings.price_for(model)
    if entry is None:
        return None
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return round((prompt * entry.input + completion * entry.output) / 1_000_000, 8)


def tokens_cost(settings: EvalSettings, tokens: dict[str, dict[str, int]], kind: str | None = None) -> float:
    """USD for token totals keyed "kind:model" (ModelCalls' counters), optionally of one kind; unpriced is free."""
    total = 0.0
    for key, usage in tokens.items():
        call_kind, _, model = key.partition(":")
        if kind is None or call_kind == kind:
            total += price(settings, model, usage) or 0.0
    return total
