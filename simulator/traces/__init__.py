"""Real torch runs: record them, import their traces as Programs, replay and re-shard them.

* :mod:`.record` / :mod:`.worker` / :mod:`.models` / :mod:`.recipe`: ``commsim record``.
* :mod:`.kineto` (with :mod:`.events`, :mod:`.cpu`, :mod:`.gpu`, :mod:`.timeline`,
  :mod:`.et`): Kineto (+ execution trace) -> per-rank Programs.
* :mod:`.replay`: predicted vs measured; :mod:`.reshard`: trace -> LayerProfile -> strategies.
* :mod:`.chakra`: Chakra ET export/import.

torch is imported only inside the worker process and inside functions, never at module import
time, so everything but recording works without torch. See docs/traces.md.
"""
