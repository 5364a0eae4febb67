"""Tasks with verifiers. Importing this package registers the built-in tasks."""

from scaling.tasks import addition, countdown, dataset, reasoning_gym, thinking  # noqa: F401  (registration side effect)
from scaling.tasks.base import Example, Task, make_task, register_task, task_names

__all__ = ["Example", "Task", "make_task", "register_task", "task_names"]
