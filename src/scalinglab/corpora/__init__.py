"""Where tokens come from: text corpora, the built-in KJV, the synthetic language; tokenizers."""

from scalinglab.corpora.base import TokenizedCorpus

__all__ = ["TokenizedCorpus"]
