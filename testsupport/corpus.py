"""Where the shared photo corpus lives (read-only; see its SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
CORPUS = ROOT.parent / "shared" / "corpus"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def corpus_photos(corpus: Path = CORPUS) -> list[Path]:
    """The corpus's photos, sorted by name."""
    return sorted(p for p in corpus.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
