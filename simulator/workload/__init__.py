"""Workloads: the per-rank Program IR, the transformer cost model and the strategies."""
