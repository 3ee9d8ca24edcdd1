"""The token cache: tokenize once, reuse memory-mapped token arrays keyed by a content hash.

Layout: ``<root>/tokens/<key>/`` holds ``train.npy`` and ``val.npy`` (uint16 or uint32),
``meta.json`` and, for a trained BPE, ``tokenizer.json`` beside the arrays.  The root is the
``cache_dir`` argument, else ``$SCALINGLAB_CACHE``, else ``$XDG_CACHE_HOME/scalinglab``, else
``~/.cache/scalinglab``.  An entry is written into a temporary folder and renamed into place,
so parallel workers of a sweep never see a half-written entry (the first rename wins).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalinglab.errors import ScalingLabError

CACHE_ENV_VAR = "SCALINGLAB_CACHE"
CACHE_FORMAT_VERSION = 1  # bump when the tokenization or the layout changes
_META_FILE = "meta.json"
TOKENIZER_FILE = "tokenizer.json"


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache root folder (not created)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "scalinglab"


def content_key(*parts: str | bytes) -> str:
    """A hex SHA-256 over the parts (length-prefixed, so part boundaries matter)."""
    digest = hashlib.sha256(f"scalinglab-cache-v{CACHE_FORMAT_VERSION}".encode())
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:40]


@dataclass
class CachedTokens:
    """A cache entry: memory-mapped arrays and their metadata."""

    path: Path
    train: np.ndarray
    val: np.ndarray
    meta: dict

    @property
    def tokenizer_file(self) -> Path | None:
        file = self.path / TOKENIZER_FILE
        return file if file.exists() else None


class TokenCache:
    """Token arrays on disk under ``<root>/tokens/<key>``."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.root = cache_root(cache_dir)
        self.tokens_dir = self.root / "tokens"

    def entry_path(self, key: str) -> Path:
        return self.tokens_dir / key

    def load(self, key: str) -> CachedTokens | None:
        """The entry for ``key`` memory-mapped read-only, or None if absent or unreadable."""
        path = self.entry_path(key)
        try:
            meta = json.loads((path / _META_FILE).read_text(encoding="utf-8"))
            if meta.get("cache_key") != key:
                return None
            train = np.load(path / "train.npy", mmap_mode="r")
            val = np.load(path / "val.npy", mmap_mode="r")
        except (OSError, ValueError):
            return None
        return CachedTokens(path=path, train=train, val=val, meta=meta)

    def store(self, key: str, train: np.ndarray, val: np.ndarray, meta: dict,
              tokenizer_json: str | None = None) -> CachedTokens:
        """Write an entry atomically and return it memory-mapped."""
        try:
            self.tokens_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.tokens_dir))
        except OSError as exc:
            raise ScalingLabError(f"cannot write the token cache in {self.tokens_dir}: "
                                  f"{exc.strerror} (set {CACHE_ENV_VAR} or cache_dir)") from None
        try:
            np.save(staging / "train.npy", np.ascontiguousarray(train))
            np.save(staging / "val.npy", np.ascontiguousarray(val))
            if tokenizer_json is not None:
                (staging / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
            full_meta = {**meta, "cache_key": key, "cache_format": CACHE_FORMAT_VERSION}
            (staging / _META_FILE).write_text(json.dumps(full_meta, indent=2), encoding="utf-8")
            target = self.entry_path(key)
            if target.exists() and self.load(key) is None:  # a broken entry: replace it
                shutil.rmtree(target, ignore_errors=True)
            try:
                staging.rename(target)
            except OSError:  # another process stored the same key first: keep theirs
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        entry = self.load(key)
        if entry is None:
            raise ScalingLabError(f"token cache entry {self.entry_path(key)} is unreadable; "
                                  "delete it and retry")
        return entry

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        if not self.tokens_dir.exists():
            return 0
        entries = [p for p in self.tokens_dir.iterdir() if p.is_dir()]
        for entry in entries:
            shutil.rmtree(entry, ignore_errors=True)
        return len(entries)
