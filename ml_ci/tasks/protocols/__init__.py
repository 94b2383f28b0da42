"""The protocols a task's halves satisfy, one module per half (see `ml_ci.tasks.task.Task`).

Each protocol is what the stages need from a task, nothing more; a new task implements every one
(tests/unit/tasks checks that each registered task does)."""
