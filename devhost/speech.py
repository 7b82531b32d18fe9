"""A caller's voicemail as a real WAV file, made on this machine.

`espeak-ng -w file.wav "words"` speaks the words (Debian package `espeak-ng`; a transcriber hears
them). Without it, the `wave` module writes a valid 8 kHz mono 16-bit PCM file of tones, one
syllable-like burst per word: a real recording to archive and play, with nothing to transcribe.
"""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from devhost.sandbox_twilio import wav_seconds

RATE = 8000  # Twilio's own recordings: 8 kHz mono
ESPEAK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Speech:
    audio: bytes
    seconds: float
    made_by: str  # "espeak-ng" or "wave (tones: espeak-ng not installed)"


def make_voicemail_wav(words: str, *, espeak: str | None = "auto") -> Speech:
    """The words as a WAV: spoken by espeak-ng when found (`espeak` = its path, "auto" looks it
    up on PATH, None never uses it), else tones written with the `wave` module."""
    path = shutil.which("espeak-ng") if espeak == "auto" else espeak
    if path:
        with tempfile.TemporaryDirectory(prefix="devhost-voicemail-") as tmp:
            target = Path(tmp) / "voicemail.wav"
            subprocess.run(  # noqa: S603 - a fixed program and a file we name
                [path, "-w", str(target), "--", words],
                check=True,
                capture_output=True,
                timeout=ESPEAK_TIMEOUT_SECONDS,
            )
            audio = target.read_bytes()
        return Speech(audio, wav_seconds(audio), "espeak-ng")
    audio = tone_wav(words)
    return Speech(audio, wav_seconds(audio), "wave (tones: espeak-ng not installed)")


def tone_wav(words: str) -> bytes:
    """A PCM WAV of one short voiced burst per word, with gaps: at least one second long."""
    count = max(1, len(words.split()))
    word, gap = int(RATE * 0.3), int(RATE * 0.12)
    frames = bytearray()
    for i in range(count):
        pitch = 140.0 + 25.0 * (i % 4)
        for n in range(word):
            envelope = math.sin(math.pi * n / word)  # rises and falls like a syllable
            sample = envelope * (
                0.6 * math.sin(2 * math.pi * pitch * n / RATE)
                + 0.3 * math.sin(4 * math.pi * pitch * n / RATE)
            )
            frames += struct.pack("<h", int(sample * 12000))
        frames += b"\x00\x00" * gap
    frames += b"\x00\x00" * max(0, RATE - len(frames) // 2)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(bytes(frames))
    return out.getvalue()
