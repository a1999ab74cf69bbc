"""Tasks: what is learned, from which data, by which model, with which loss and metrics.

Every task registers a `rnnlab.train.task.TaskSpec` in `REGISTRY` and trains on the one run
path (`rnnlab.train.run.run_task`, `rnnlab train TASK`):

| task     | what                                                               | metrics        |
|----------|--------------------------------------------------------------------|----------------|
| charlm   | character-level language model, truncated BPTT                     | loss, bpc      |

The dependency runs one way: tasks use `rnnlab.train`, `rnnlab.models` and `rnnlab.data`;
`rnnlab.train` knows only the task protocol.
"""

from rnnlab.tasks import charlm
from rnnlab.tasks.registry import REGISTRY, get_task, register, task_of

__all__ = ["REGISTRY", "charlm", "get_task", "register", "task_of"]
