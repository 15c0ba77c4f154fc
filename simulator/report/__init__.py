"""Writers for simulation results: tables, timeline JSON, plots, the human summary.

Called by the CLI or by the user, never by the engine. Each writer takes a
:class:`simulator.engine.StepResult` and a destination; none of them changes the result.
"""
