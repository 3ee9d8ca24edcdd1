"""Where tokens come from: text corpora, the built-in KJV, the synthetic language; tokenizers.

``load_corpus(source, tokenizer)`` is the one entry point the trainer needs; it returns a
:class:`TokenizedCorpus` whose token arrays are memory-mapped from the token cache.
"""

from scalinglab.corpora.base import TokenizedCorpus
from scalinglab.corpora.cache import CACHE_ENV_VAR, TokenCache, cache_root
from scalinglab.corpora.documents import (
    DEFAULT_VAL_FRACTION,
    DocumentSet,
    documents_from_hf,
    documents_from_path,
    documents_from_texts,
    split_documents,
)
from scalinglab.corpora.kjv import kjv_documents
from scalinglab.corpora.loading import (
    SOURCE_HELP,
    load_corpus,
    parse_source,
    synthetic_language,
    synthetic_source_name,
    tokenize_documents,
)
from scalinglab.corpora.sampling import (
    DataRepeatError,
    RepeatedDataWarning,
    WindowBatch,
    WindowSampler,
    check_token_budget,
    epochs_for_budget,
    validation_windows,
)
from scalinglab.corpora.synthetic import (
    ExactEvaluation,
    SyntheticConfig,
    SyntheticLanguage,
    ZipfMarkovLanguage,
)
from scalinglab.corpora.tokenizers import (
    ByteTokenizer,
    load_tokenizer,
    parse_tokenizer_spec,
    train_bpe,
)

__all__ = [
    "CACHE_ENV_VAR",
    "DEFAULT_VAL_FRACTION",
    "SOURCE_HELP",
    "ByteTokenizer",
    "DataRepeatError",
    "DocumentSet",
    "ExactEvaluation",
    "RepeatedDataWarning",
    "SyntheticConfig",
    "SyntheticLanguage",
    "TokenCache",
    "TokenizedCorpus",
    "WindowBatch",
    "WindowSampler",
    "ZipfMarkovLanguage",
    "cache_root",
    "check_token_budget",
    "documents_from_hf",
    "documents_from_path",
    "documents_from_texts",
    "epochs_for_budget",
    "kjv_documents",
    "load_corpus",
    "load_tokenizer",
    "parse_source",
    "parse_tokenizer_spec",
    "split_documents",
    "synthetic_language",
    "synthetic_source_name",
    "tokenize_documents",
    "train_bpe",
    "validation_windows",
]
