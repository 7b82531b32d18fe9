"""What usage costs, in integer micro-USD, decided here and never taken from an event.

AI calls are priced with `genai-prices` (cached input tokens at the cache-read price). A model it
does not know is priced at the configured fallback rates and flagged `fallback`, never free.
SMS is priced per segment and transcription per audio second, from settings. Decimal USD becomes
micro-USD once, rounding half up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from shared_code.platform.settings import get_settings

MICRO = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    cost_micro: int
    priced_by: str  # "genai-prices", "fallback" or "sms-rate"


def to_micro(usd: Decimal) -> int:
    return int((usd * MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price_ai(model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> Price:
    """`input_tokens` is the whole prompt, cached tokens included (as the API reports it)."""
    # Imported on the first price, not at start-up: its price tables are a cold start's cost.
    from genai_prices import Usage, calc_price

    try:
        calculation = calc_price(
            Usage(
                input_tokens=input_tokens,
                cache_read_tokens=cached_tokens,
                output_tokens=output_tokens,
            ),
            model,
            provider_id="openai",
        )
    except LookupError:
        settings = get_settings()
        micro_millionths = (
            input_tokens * settings.fallback_input_price_per_mtok_micro
            + output_tokens * settings.fallback_output_price_per_mtok_micro
        )
        # Cached tokens are billed as ordinary input here: an unknown model is never cheaper.
        cost = (Decimal(micro_millionths) / MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return Price(int(cost), "fallback")
    return Price(to_micro(calculation.total_price), "genai-prices")


def price_sms(segments: int) -> Price:
    return Price(segments * get_settings().sms_price_per_segment_micro, "sms-rate")


def price_transcription(audio_seconds: int) -> Price:
    """Voicemail transcription: TRANSCRIPTION_PRICE_PER_MINUTE_MICRO per minute of audio,
    charged per audio second (a 14 s voicemail is 14/60 of the minute price), rounded half up."""
    per_minute = get_settings().transcription_price_per_minute_micro
    cost = (Decimal(audio_seconds) * per_minute / 60).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Price(int(cost), "transcription-rate")


ESTIMATE_TOKEN_STEP = 256


def estimate_ai_max(model: str, prompt_tokens: int, output_tokens: int, calls: int = 2) -> int:
    """A ceiling for one assistant turn (up to `calls` requests), reserved before the call.

    The prompt is rounded up to a multiple of ESTIMATE_TOKEN_STEP tokens, so the ceiling stays a
    ceiling and the few distinct estimates are computed once (a genai-prices lookup costs about
    a third of a millisecond, on the path of every AI reply).
    """
    steps = -(-max(prompt_tokens, 1) // ESTIMATE_TOKEN_STEP)
    settings = get_settings()
    fallback = (
        settings.fallback_input_price_per_mtok_micro,
        settings.fallback_output_price_per_mtok_micro,
    )
    today = datetime.now(UTC).date()  # genai-prices has prices that change on a date
    return _estimate(model, steps * ESTIMATE_TOKEN_STEP, output_tokens, calls, fallback, today)


@lru_cache(maxsize=1024)
def _estimate(
    model: str,
    prompt_tokens: int,
    output_tokens: int,
    calls: int,
    fallback: tuple[int, int],
    day: date,
) -> int:
    # `fallback` and `day` are in the key so neither new fallback rates nor a price that
    # changed today is served stale.
    one = price_ai(model, prompt_tokens, 0, output_tokens).cost_micro
    return max(1, one * calls)
