"""Price the nccl-tests rows with candidate NCCL >= 2.18 tree models (an experiment, no model).

Usage: ``PYTHONPATH=$PWD .venv/bin/python benchmarks/tree_variants.py VARIANT [--tree-channels X]``
with VARIANT one of ``base``, ``cap``, ``fill``, ``cap+fill``, ``cap+corr``, ``cap+fill+corr``.
Prints every nccl-tests row of ``simulator/data/published.yaml`` (expected, predicted busbw in
GB/s, error) and the count within 10 % and the median |error|. docs/decisions.md (nccl24)
records what each variant did. Nothing here is used by commsim: the variants patch the
resolver of :mod:`simulator.collectives.choice` for this process only.

* ``cap``: NCCL >= 2.18's per-channel tree ceiling, ``perChMaxTreeBws`` (GB/s of busBw per
  channel; Volta/Ampere/Hopper by 1 node / 2 nodes / more), algorithm bandwidth
  ``0.5 x channels x cap`` (NVIDIA/nccl src/graph/tuning.cc at v2.18.5-1, 559b70f8, lines
  102-106, 146, 180 and 199; unchanged at v2.20.5-1 and v2.21.5-1). ``--tree-channels`` scales
  the channel count (commsim's is the GPUs per host). NCCL doubles its searched channels
  where a channel carries >= 25 GB/s, but not on Hopper below 50 GB/s with more than 4
  channels (src/graph/search.cc at v2.18.5-1, lines 986-996), so 2 is an upper bound.
* ``fill``: the tree's pipeline fill. NCCL halves a Simple tree chunk (512 KiB: the 4 MiB
  Simple buffer, src/init.cc line 502, over NCCL_STEPS 8, src/include/devcomm.h line 34) while
  a channel holds fewer than depth x 8 chunks (down to 128 KiB), depth x 4 (to 64 KiB), depth
  (to 32 KiB) (src/enqueue.cc at v2.18.5-1, lines 1313-1318), depth being
  ``ranks per node - 1 + log2(nodes)`` (src/graph/connect.cc at v2.18.5-1, line 135); ``k``
  chunks through ``2 depth`` hops up and down take ``k + 2 depth - 1`` chunk times, so the tree
  reaches ``k / (k + 2 depth - 1)`` of its steady throughput.
* ``corr``: NCCL's own correction of tree bandwidth at medium sizes, ``treeCorrectionFactor``
  per protocol and power of two from 64 B to 256 MiB (src/graph/tuning.cc at v2.18.5-1,
  lines 373-379 and 387-388).
"""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import replace

from simulator.collectives import choice
from simulator.collectives.backend import ProtocolProfile
from simulator.collectives.nvls import scaleup_link
from simulator.core.vocab import Algorithm
from simulator.studies.published import load_references, predict_nccl

#: perChMaxTreeBws by scale-up link (GPU generation): 1 node, 2 nodes, more (GB/s per channel).
PER_CHANNEL_TREE_GBPS = {
    "nvlink2": (26.5, 18.5, 10.0),
    "nvlink3": (24.0, 23.6, 17.8),
    "nvlink4": (38.7, 41.4, 36.0),
}
#: treeCorrectionFactor rows LL and Simple (LL128 is not modelled), index log2(bytes / 64).
TREE_CORRECTION = {
    "LL": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0,
           1.0, 1.0, 1.0),
    "simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7,
               .8, .9, .9),
}  # fmt: skip
TREE_CHUNK_B = 512 * 1024


def tree_depth(ranks: int, nodes: int) -> int:
    """NCCL's approximate tree depth: ranks per node - 1 + floor(log2(nodes))."""
    return ranks // nodes - 1 + (nodes.bit_length() - 1)


def tree_chunk_B(size_B: float, channels: int, depth: int) -> int:
    """NCCL's Simple tree chunk for ``size_B`` bytes on ``channels`` channels, bytes."""
    c = TREE_CHUNK_B
    for times, floor_B in ((8, 131072), (4, 65536), (1, 32768)):
        while size_B / (channels * c) < depth * times and c > floor_B:
            c //= 2
    return c


def fill_share(size_B: float, ranks: int, nodes: int, channels: int) -> float:
    """The share ``k / (k + 2 depth - 1)`` of a tree's steady throughput, in (0, 1]."""
    depth = tree_depth(ranks, nodes)
    per_channel_B = size_B / channels
    c = tree_chunk_B(size_B, channels, depth)
    k = max(1, math.ceil(per_channel_B / c))
    return per_channel_B / (min(c, per_channel_B) * (k + 2 * depth - 1))


def correction(size_B: float, protocol: str) -> float:
    """treeCorrectionFactor of ``protocol`` at ``size_B`` bytes (1 from 512 MiB up)."""
    lg = (int(size_B) >> 6).bit_length() - 1 if size_B >= 64 else 0
    return TREE_CORRECTION[protocol][lg] if lg < 23 else 1.0


def patch(variant: set[str], channel_scale: float) -> None:
    """Make :class:`choice._Resolver` price trees with ``variant``'s parts."""
    resolver = choice._Resolver
    base_protocols = resolver.protocols
    base_search = resolver.search

    def protocols(self: choice._Resolver, a: Algorithm) -> tuple[ProtocolProfile, ...]:
        ps = base_protocols(self, a)
        if a is not Algorithm.TREE:
            return ps
        if "fill" in variant:
            nch = 2 * max(1, self.n_ch // 2)
            s = fill_share(self.size_B, len(self.group), self.n_hosts, nch)
            ps = tuple(replace(p, bandwidth_factor=p.bandwidth_factor * s) for p in ps)
        if "corr" in variant:
            ps = tuple(
                replace(p, bandwidth_factor=p.bandwidth_factor * correction(self.size_B, p.name))
                for p in ps
            )
        return ps

    def search(self: choice._Resolver, prune: bool) -> None:
        if "cap" in variant:
            per = PER_CHANNEL_TREE_GBPS.get(scaleup_link(self.topology) or "", (24.0, 23.6, 17.8))
            idx = min(self.n_hosts, 3) - 1
            cap = 0.5 * 2 * max(1, self.n_ch // 2) * channel_scale * per[idx] * 1e9
            self.profile = replace(self.profile, tree_max_algbw_Bps=(cap, cap))
        base_search(self, prune)

    resolver.protocols = protocols  # type: ignore[method-assign]
    resolver.search = search  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("variant", help="base, or parts joined by +: cap, fill, corr")
    ap.add_argument("--tree-channels", type=float, default=1.0, help="scale of the cap's channels")
    args = ap.parse_args()
    parts = set() if args.variant == "base" else set(args.variant.split("+"))
    patch(parts, args.tree_channels)
    errors = []
    for ref in load_references().nccl_tests:
        p = predict_nccl(ref)
        e = (p - ref.expected) / ref.expected * 100
        errors.append(abs(e))
        print(f"{ref.reference:40s} {ref.expected:8.1f} {p:8.1f} {e:+7.1f}", flush=True)
    print(
        f"{args.variant} x{args.tree_channels}: {sum(e <= 10 for e in errors)} of {len(errors)} "
        f"within 10 %, median |error| {statistics.median(errors):.2f} %"
    )


if __name__ == "__main__":
    main()
