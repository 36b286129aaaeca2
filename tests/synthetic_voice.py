"""Audio that voice activity detection (Silero VAD, in faster-whisper) hears as speech, made in numpy without a
text-to-speech engine: a glottal-like harmonic series on a wandering pitch (~120 Hz), shaped by the formants of a
vowel that changes every syllable (four a second), each syllable rising and falling. Pure tones and noise, which the
other tests use, are heard as no speech at all, so they cannot show chunking by voice activity.
"""

from __future__ import annotations

import numpy as np

from asr.types import SAMPLE_RATE, Pcm

SYLLABLE_SECONDS = 0.25
# (F1, F2, F3) in Hz of five vowels: /a/ /i/ /u/ /e/ /o/-ish
VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (640, 1190, 2390))
HARMONICS = 30


def voice(seconds: float, seed: int = 0) -> Pcm:
    """`seconds` of a vowel-like voice at about -6 dBFS peak, over a faint noise floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    pitch = 120 + 20 * np.sin(2 * np.pi * 0.7 * t + seed) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    per_syllable = int(SYLLABLE_SECONDS * SAMPLE_RATE)
    chosen = rng.integers(len(VOWELS), size=n // per_syllable + 1)
    formants = np.repeat(np.array([VOWELS[i] for i in chosen], dtype=np.float64), per_syllable, axis=0)[:n]
    out = np.zeros(n)
    for k in range(1, HARMONICS + 1):
        frequency = k * pitch
        gain = sum(1 / (1 + ((frequency - formants[:, j]) / (80 + 40 * j)) ** 2) for j in range(3))
        out += gain * np.sin(k * phase) / np.sqrt(k)
    out *= np.sqrt(np.clip(np.sin(np.pi * t / SYLLABLE_SECONDS), 0, None))  # each syllable swells and fades
    out /= np.abs(out).max() or 1.0
    return (0.5 * out + 0.003 * rng.standard_normal(n)).astype(np.float32)


def silence(seconds: float, seed: int = 0) -> Pcm:
    """A room's faint hiss, which VAD hears as no speech."""
    return (0.001 * np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
