"""``load_corpus``: from a source name and a tokenizer spec to a cached :class:`TokenizedCorpus`.

Sources: ``kjv`` (built in, the default), ``synthetic`` or ``synthetic:key=value,...`` (the
language with an exact entropy rate), ``hf:NAME`` (a Hugging Face dataset name or a
``save_to_disk`` folder), or a path (text file, ``.txt.xz``/``.gz``/``.bz2``, ``.jsonl``, folder).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.corpora.cache import CachedTokens, TokenCache, content_key
from scalinglab.corpora.documents import (
    DEFAULT_CHUNK_CHARS,
    DEFAULT_VAL_FRACTION,
    DOCUMENT_SEPARATOR,
    DocumentSet,
    DocumentSplit,
    documents_from_hf,
    documents_from_path,
    split_documents,
)
from scalinglab.corpora.kjv import KJV_NAME, kjv_documents
from scalinglab.corpora.synthetic import SyntheticConfig, SyntheticLanguage
from scalinglab.corpora.tokenizers import build_tokenizer, parse_tokenizer_spec
from scalinglab.errors import ScalingLabError

SOURCE_HELP = "kjv, synthetic[:key=value,...], hf:NAME or a path to a text file or folder"
SYNTHETIC_TRAIN_TOKENS = 64_000_000  # fresh tokens: the default synthetic demo (sweep and its 10x
# validation run) needs ~50M without repeating data; generated in ~10 s, 128 MB in the cache
SYNTHETIC_VAL_TOKENS = 131_072
SYNTHETIC_TRAIN_CHAINS = 256  # independent stationary chains, concatenated
SYNTHETIC_TOKENIZERS = ("none", "byte")  # "byte" accepted because it is the trainer default

_PATH_OPTIONS = {"field": "field", "hf_field": "field", "doc_split": "doc_split",
                 "chunk_chars": "chunk_chars"}
_HF_OPTIONS = {"split": "split", "hf_split": "split", "field": "field", "hf_field": "field",
               "config": "config", "hf_config": "config"}
_SYNTHETIC_ALIASES = {"vocab": "vocab_size", "v": "vocab_size", "k": "order",
                      "zipf": "zipf_exponent", "interaction": "interaction_scale",
                      "lags": "lag_scales"}
_SYNTHETIC_LANGUAGE_KEYS = ("vocab_size", "order", "zipf_exponent", "lag_scales",
                            "interaction_scale", "language_seed")
_SYNTHETIC_DATA_KEYS = ("train_tokens", "val_tokens", "train_chains")


def load_corpus(source: str = KJV_NAME, tokenizer: str = "byte", *, seed: int = 0,
                val_fraction: float = DEFAULT_VAL_FRACTION, cache_dir: str | Path | None = None,
                **source_options) -> TokenizedCorpus:
    """Load, split (by document), tokenize and cache a corpus.

    ``seed`` fixes the train/validation split of text corpora (keep it fixed across a sweep)
    and the sample of the synthetic language.  Source options: for a path ``field`` (JSON
    lines), ``doc_split`` (chunks | paragraphs | lines | file) and ``chunk_chars``; for ``hf:``
    ``split``, ``field``, ``config``; for ``synthetic`` the language (``vocab_size``,
    ``order``, ``zipf_exponent``, ``lag_scales``, ``interaction_scale``, ``language_seed``) and
    the sample (``train_tokens``, ``val_tokens``, ``train_chains``; ``val_fraction`` does not
    apply, and ``corpus.language`` is the :class:`SyntheticLanguage`, for exact entropy and
    exact evaluation).  Tokens are memory-mapped from the cache; a second call with the same
    text and tokenizer does not tokenize again.
    """
    kind, inline = parse_source(source)
    options = {**inline, **source_options}
    if kind == "synthetic":
        return _load_synthetic(tokenizer, seed, cache_dir, options)
    doc_set = _documents(kind, source, options)
    return tokenize_documents(doc_set, tokenizer, seed=seed, val_fraction=val_fraction,
                              cache_dir=cache_dir)


def is_synthetic_source(source: str) -> bool:
    """Whether ``source`` names the synthetic language (``synthetic`` or ``synthetic:...``)."""
    return str(source).strip().lower().partition(":")[0] == "synthetic"


def parse_source(source: str) -> tuple[str, dict]:
    """``(kind, inline options)`` of a source string; kind in {kjv, synthetic, hf, path}."""
    text = str(source).strip()
    if not text:
        raise ScalingLabError(f"empty corpus source: expected {SOURCE_HELP}")
    lowered = text.lower()
    if lowered == KJV_NAME:
        return "kjv", {}
    if is_synthetic_source(text):
        return "synthetic", _parse_inline_options(text.partition(":")[2])
    if lowered.startswith("hf:"):
        name = text[3:].strip()
        if not name:
            raise ScalingLabError("hf: needs a dataset name or folder, e.g. hf:wikitext")
        return "hf", {"name": name}
    path = Path(text).expanduser()
    if not path.exists():
        raise ScalingLabError(f"no such corpus file or folder: {text} (expected {SOURCE_HELP})")
    return "path", {}


def _parse_inline_options(text: str) -> dict:
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScalingLabError(f"bad synthetic option {item!r}: expected key=value")
        options[key.strip()] = value.strip()
    return options


def _select_options(options: Mapping, allowed: Mapping[str, str], source: str) -> dict:
    chosen = {}
    for key, value in options.items():
        if key not in allowed:
            names = ", ".join(sorted(set(allowed)))
            raise ScalingLabError(f"unknown option {key!r} for corpus {source} "
                                  f"(allowed: {names or 'none'})")
        chosen[allowed[key]] = value
    return chosen


def _documents(kind: str, source: str, options: dict) -> DocumentSet:
    if kind == "kjv":
        _select_options(options, {}, source)
        return kjv_documents()
    if kind == "hf":
        name = options.pop("name")
        chosen = _select_options(options, _HF_OPTIONS, source)
        return documents_from_hf(name, **chosen)
    chosen = _select_options(options, _PATH_OPTIONS, source)
    if "chunk_chars" in chosen:
        chosen["chunk_chars"] = _positive_int(chosen["chunk_chars"], "chunk_chars")
    return documents_from_path(source, **{"chunk_chars": DEFAULT_CHUNK_CHARS, **chosen})


def tokenize_documents(doc_set: DocumentSet, tokenizer: str = "byte", *, seed: int = 0,
                       val_fraction: float = DEFAULT_VAL_FRACTION,
                       cache_dir: str | Path | None = None) -> TokenizedCorpus:
    """Split a :class:`DocumentSet` by document and tokenize it (once: the cache is keyed by
    the split text and the tokenizer)."""
    spec = parse_tokenizer_spec(tokenizer)
    split = split_documents(doc_set, val_fraction, seed)
    train_text, val_text = split.texts()
    key = content_key("text", spec.canonical(), _digest(train_text), _digest(val_text),
                      _lengths_digest(split.train), _lengths_digest(split.val))
    cache = TokenCache(cache_dir)
    entry = cache.load(key) or _tokenize_and_store(cache, key, spec, split, doc_set)
    train_bytes = len(train_text.encode("utf-8"))
    val_bytes = len(val_text.encode("utf-8"))
    meta = {
        "source": doc_set.description or doc_set.name,
        "documents": doc_set.n_documents,
        "split": _split_description(doc_set),
        "split_seed": int(seed),
        "val_fraction": float(val_fraction),
        "bytes_per_token": train_bytes / max(1, len(entry.train)),
        "cache_path": str(entry.path),
        "tokenizer_file": str(entry.tokenizer_file) if entry.tokenizer_file else None,
    }
    if doc_set.groups is not None:
        meta["val_groups"] = split.val_groups
    return TokenizedCorpus(name=doc_set.name, tokenizer=entry.meta["tokenizer"],
                           vocab_size=int(entry.meta["vocab_size"]), train=entry.train,
                           val=entry.val, train_bytes=train_bytes, val_bytes=val_bytes,
                           train_documents=len(split.train), val_documents=len(split.val),
                           meta=meta)


def _tokenize_and_store(cache: TokenCache, key: str, spec, split: DocumentSplit,
                        doc_set: DocumentSet) -> CachedTokens:
    tokenizer = build_tokenizer(spec, split.train)
    train = tokenizer.encode_documents(split.train, DOCUMENT_SEPARATOR)
    val = tokenizer.encode_documents(split.val, DOCUMENT_SEPARATOR)
    meta = {"name": doc_set.name, "tokenizer": tokenizer.name,
            "vocab_size": int(tokenizer.vocab_size), "train_tokens": int(len(train)),
            "val_tokens": int(len(val))}
    return cache.store(key, train, val, meta, tokenizer_json=tokenizer.to_json())


def _split_description(doc_set: DocumentSet) -> str:
    unit = doc_set.group_kind if doc_set.groups is not None else "document"
    if doc_set.split_order == "tail":
        return f"by {unit}: the last {unit}s form the validation set"
    return f"by {unit}: seeded random {unit}s form the validation set"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _lengths_digest(documents: list[str]) -> bytes:
    lengths = np.fromiter((len(doc) for doc in documents), dtype=np.int64, count=len(documents))
    return hashlib.sha256(lengths.tobytes()).digest()


# ---- the synthetic language --------------------------------------------------------------------
def synthetic_language(options: Mapping) -> SyntheticLanguage:
    """A :class:`SyntheticLanguage` from (string or typed) options; unknown keys are errors."""
    language_options, _ = _split_synthetic_options(options)
    return SyntheticLanguage(_synthetic_config(language_options))


def _split_synthetic_options(options: Mapping) -> tuple[dict, dict]:
    language, data = {}, {}
    for raw_key, value in options.items():
        key = _SYNTHETIC_ALIASES.get(raw_key, raw_key)
        if key in _SYNTHETIC_LANGUAGE_KEYS:
            language[key] = value
        elif key in _SYNTHETIC_DATA_KEYS:
            data[key] = value
        else:
            allowed = ", ".join(_SYNTHETIC_LANGUAGE_KEYS + _SYNTHETIC_DATA_KEYS)
            raise ScalingLabError(f"unknown synthetic option {raw_key!r} (allowed: {allowed})")
    return language, data


def _synthetic_config(options: Mapping) -> SyntheticConfig:
    kwargs = {}
    if "vocab_size" in options:
        kwargs["vocab_size"] = _positive_int(options["vocab_size"], "vocab_size")
    if "order" in options:
        kwargs["order"] = _positive_int(options["order"], "order")
    for key in ("zipf_exponent", "interaction_scale"):
        if key in options:
            kwargs[key] = _number(options[key], key)
    if "lag_scales" in options:
        raw = options["lag_scales"]
        items = raw.split("/") if isinstance(raw, str) else list(raw)
        kwargs["lag_scales"] = tuple(_number(item, "lag_scales") for item in items)
    if "language_seed" in options:
        kwargs["seed"] = _int(options["language_seed"], "language_seed")
    return SyntheticConfig(**kwargs)


def synthetic_source_name(config: SyntheticConfig) -> str:
    """A source string that reloads the same language, e.g. ``synthetic:vocab_size=64,...``."""
    scales = "/".join(f"{s:g}" for s in config.resolved_lag_scales())
    return (f"synthetic:vocab_size={config.vocab_size},order={config.order},"
            f"zipf_exponent={config.zipf_exponent:g},lag_scales={scales},"
            f"interaction_scale={config.interaction_scale:g},language_seed={config.seed}")


def _load_synthetic(tokenizer: str, seed: int, cache_dir: str | Path | None,
                    options: Mapping) -> TokenizedCorpus:
    if str(tokenizer).strip().lower() not in SYNTHETIC_TOKENIZERS:
        raise ScalingLabError(f"the synthetic language has its own tokens: tokenizer must be "
                              f"'none', got {tokenizer!r}")
    language_options, data_options = _split_synthetic_options(options)
    language = SyntheticLanguage(_synthetic_config(language_options))
    train_tokens = _positive_int(data_options.get("train_tokens", SYNTHETIC_TRAIN_TOKENS),
                                 "train_tokens")
    val_tokens = _positive_int(data_options.get("val_tokens", SYNTHETIC_VAL_TOKENS), "val_tokens")
    chains = min(train_tokens, _positive_int(data_options.get("train_chains",
                                                              SYNTHETIC_TRAIN_CHAINS),
                                             "train_chains"))
    name = synthetic_source_name(language.config)
    key = content_key("synthetic", json.dumps(language.config.to_dict(), sort_keys=True),
                      str(train_tokens), str(val_tokens), str(chains), str(int(seed)))
    cache = TokenCache(cache_dir)
    entry = cache.load(key)
    if entry is None:
        chain_length = -(-train_tokens // chains)
        train = language.sample(chain_length, chains, seed=seed, stream=1).ravel()[:train_tokens]
        val = language.sample(val_tokens, 1, seed=seed, stream=2).ravel()
        entry = cache.store(key, train, val, {"name": name, "tokenizer": "none",
                                              "vocab_size": language.vocab_size})
    h = language.entropy_rate()
    meta = {"source": name, "synthetic": language.config.to_dict(), "language": language,
            "entropy_rate": h, "train_chains": chains, "sample_seed": int(seed),
            "val_chains": 1, "cache_path": str(entry.path), "tokenizer_file": None}
    return TokenizedCorpus(name=name, tokenizer="none", vocab_size=language.vocab_size,
                           train=entry.train, val=entry.val, train_bytes=None, val_bytes=None,
                           train_documents=chains, val_documents=1, meta=meta)


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScalingLabError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise ScalingLabError(f"{name} must be finite, got {value!r}")
    return number


def _int(value, name: str) -> int:
    number = _number(value, name)
    if number != int(number):
        raise ScalingLabError(f"{name} must be an integer, got {value!r}")
    return int(number)


def _positive_int(value, name: str) -> int:
    number = _int(value, name)
    if number < 1:
        raise ScalingLabError(f"{name} must be >= 1, got {value!r}")
    return number
