# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: appends one JSON line per finished task result to ``$BENCH_TIMING_FILE``.

Each line has the task name, host, status, wall-clock start/end (``time.time()``, so the harness
can compare them with its own clock) and the result keys named in ``$BENCH_RESULT_KEYS``. Enabled
by the harness through ``ANSIBLE_CALLBACKS_ENABLED``; it never prints, so the stdout callback and
the measured work stay the same as in a normal run.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: write task start and end times as JSON lines (benchmarks only)
description:
  - Appends one JSON object per task result to the file named by E(BENCH_TIMING_FILE).
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BENCH_TIMING_FILE")
        # Result keys the harness wants back (e.g. resource_ids), comma-separated; never whole results.
        self._keys = [k for k in os.environ.get("BENCH_RESULT_KEYS", "").split(",") if k]
        self._started = {}
        self._play_start = time.time()

    def _emit(self, record):
        if not self._path:
            return
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self._started[task._uuid] = time.time()

    def _finished(self, result, status):
        task = result._task
        end = time.time()
        # A task with until/retries reports once, at its end; its start is the task start.
        self._emit(
            {
                "event": "task",
                "task": task.get_name(),
                "host": result._host.get_name(),
                "status": status,
                "start": self._started.get(task._uuid, self._play_start),
                "end": end,
                "attempts": result._result.get("attempts"),
                "changed": bool(result._result.get("changed")),
                "result": {key: result._result.get(key) for key in self._keys},
            }
        )

    def v2_runner_on_ok(self, result):
        self._finished(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finished(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._finished(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._finished(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        self._emit({"event": "end", "start": self._play_start, "end": time.time()})
