"""Canonical expression names, so classes of different datasets can be matched by name."""

from __future__ import annotations

CANONICAL = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
ALIASES = {
    "neutral": "neutral",
    "neutrality": "neutral",
    "calm": "neutral",
    "happiness": "happiness",
    "happy": "happiness",
    "joy": "happiness",
    "surprise": "surprise",
    "surprised": "surprise",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "afraid": "fear",
    "contempt": "contempt",
}


def canonical(name: str) -> str | None:
    """The canonical expression a class name means (case and separators ignored), or None."""
    return ALIASES.get(name.strip().lower().replace("-", "_").replace(" ", "_"))
