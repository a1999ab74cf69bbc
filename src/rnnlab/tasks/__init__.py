"""Tasks: what is learned, from which data, by which model, with which loss and metrics.

Every task registers a `rnnlab.train.task.TaskSpec` in `REGISTRY` and trains on the one run
path (`rnnlab.train.run.run_task`, `rnnlab train TASK`):

| task     | what                                                               | metrics        |
|----------|--------------------------------------------------------------------|----------------|
| charlm   | character-level language model, truncated BPTT                     | loss, bpc      |
| adding   | the adding problem: sum two marked numbers of a long sequence       | loss, mse      |
| copy     | copy memory: repeat ten symbols after T blanks                      | loss, accuracy |
| pixel    | pixel-by-pixel image classification (784 steps)                     | loss, accuracy |
| recall   | long-distance recall: a key, G distractors, a query                 | loss, accuracy |
| classify | a label for a text (sentiment, any TSV): BiLSTM/GRU with pooling    | loss, accuracy,|
|          |                                                                    | macro_f1       |
| seq2seq  | encoder-decoder with attention: dates, English to Spanish, any TSV  | loss, bleu,    |
|          |                                                                    | chrf, exact    |

The dependency runs one way: tasks use `rnnlab.train`, `rnnlab.models` and `rnnlab.data`;
`rnnlab.train` knows only the task protocol.
"""

from rnnlab.tasks import adding, charlm, classify, copy, pixel, recall, seq2seq
from rnnlab.tasks.registry import REGISTRY, get_task, register, task_of

__all__ = [
    "REGISTRY",
    "adding",
    "charlm",
    "classify",
    "copy",
    "get_task",
    "pixel",
    "recall",
    "register",
    "seq2seq",
    "task_of",
]
