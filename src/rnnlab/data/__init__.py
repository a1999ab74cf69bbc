"""Data for sequence models: vocabularies, corpora, splits, TBPTT streams, tasks, IDX images."""

from rnnlab.data.cache import resolve_cache_dir
from rnnlab.data.corpora import CORPORA, Corpus, load_corpus
from rnnlab.data.gutenberg import strip_gutenberg
from rnnlab.data.idx import DEFAULT_IMAGE_DIR, load_idx_images, read_idx, write_idx
from rnnlab.data.split import check_split_sizes, split_ids
from rnnlab.data.stream import IGNORE_INDEX, TBPTTStream, eval_layout
from rnnlab.data.tasks import (
    COPY_BLANK,
    COPY_DELIMITER,
    COPY_N_CLASSES,
    COPY_N_SYMBOLS,
    RECALL_QUERY,
    RecallLayout,
    adding_problem,
    copy_memory,
    permutation,
    recall_task,
    recall_vocab_size,
)
from rnnlab.data.vocab import CharVocab

__all__ = [
    "COPY_BLANK",
    "COPY_DELIMITER",
    "COPY_N_CLASSES",
    "COPY_N_SYMBOLS",
    "CORPORA",
    "DEFAULT_IMAGE_DIR",
    "IGNORE_INDEX",
    "RECALL_QUERY",
    "CharVocab",
    "Corpus",
    "RecallLayout",
    "TBPTTStream",
    "adding_problem",
    "check_split_sizes",
    "copy_memory",
    "eval_layout",
    "load_corpus",
    "load_idx_images",
    "permutation",
    "read_idx",
    "recall_task",
    "recall_vocab_size",
    "resolve_cache_dir",
    "split_ids",
    "strip_gutenberg",
    "write_idx",
]
