"""Data for sequence models: character vocabularies, text corpora, splits and TBPTT streams."""

from rnnlab.data.cache import resolve_cache_dir
from rnnlab.data.corpora import CORPORA, Corpus, load_corpus
from rnnlab.data.gutenberg import strip_gutenberg
from rnnlab.data.split import check_split_sizes, split_ids
from rnnlab.data.stream import IGNORE_INDEX, TBPTTStream, eval_layout
from rnnlab.data.vocab import CharVocab

__all__ = [
    "CORPORA",
    "IGNORE_INDEX",
    "CharVocab",
    "Corpus",
    "TBPTTStream",
    "check_split_sizes",
    "eval_layout",
    "load_corpus",
    "resolve_cache_dir",
    "split_ids",
    "strip_gutenberg",
]
