"""Parameter server (Li et al. 2014, "Scaling Distributed Machine Learning with the Parameter
Server"; Dean et al. 2012), synchronous or asynchronous with a staleness bound.

Parameters are split into ``servers`` equal shards. Every worker computes forward and backward
on its share of the batch, *pushes* each gradient shard to its server and *pulls* the updated
parameter shard back (``Send``/``Recv``; push and pull traffic both cross the server's links).

* ``colocated`` placement puts shard ``j`` on rank ``j * world // servers`` (spread over hosts);
  that rank is also a worker and keeps its own shard locally. ``dedicated`` uses the last
  ``servers`` ranks as servers only.
* ``sync``: a server waits for every worker's push, sums, updates, and sends the new shard to
  all; workers start the next step when every pull has arrived (BSP).
* ``async``: a server applies each worker's push when it arrives and answers that worker alone;
  worker ``w`` starts step ``k`` once its pulls of step ``k - 1 - staleness`` have arrived
  (stale-synchronous parallel, Ho et al. 2013). Workers never wait for each other; the server's
  links are where they meet. Updates of different workers run concurrently on the server
  (one stream per worker).

``Workload.steps_per_program`` is ``steps`` (several steps are simulated so that async pipelining
shows); results are per step. Aggregation and update are priced at the profile's memory rate.
"""

from __future__ import annotations

from simulator.core.ir import Program, Workload
from simulator.workload.profile import LayerProfile
from simulator.workload.strategies.options import ParameterServerConfig, PSMode, PSPlacement


def server_ranks(world: int, cfg: ParameterServerConfig) -> list[int]:
    """Ranks that host parameter-server shards."""
    if cfg.placement is PSPlacement.DEDICATED:
        return list(range(world - cfg.servers, world))
    return [j * world // cfg.servers for j in range(cfg.servers)]


def build(
    profile: LayerProfile, world: int, microbatches: int, cfg: ParameterServerConfig
) -> Workload:
    """Workload of ``cfg.steps`` parameter-server steps on ``world`` ranks."""
    if cfg.servers >= world and cfg.placement is PSPlacement.DEDICATED:
        raise ValueError("dedicated servers leave no workers")
    b = _Builder(profile, world, microbatches, cfg)
    for k in range(cfg.steps):
        bwd_ids = {w: b.worker_step(w, k) for w in b.workers}
        for j, s in enumerate(b.servers):
            if cfg.mode is PSMode.SYNC:
                b.server_sync(j, s, k, bwd_ids)
            else:
                b.server_async(j, s, k, bwd_ids)
        for s in b.servers:
            if s in b.pulls:
                b.pulls[s][k].append(b.local_upd[(s, k)])
    programs = [b.progs[r] for r in range(world) if len(b.progs[r])]
    return Workload(
        programs=programs,
        world=world,
        steps_per_program=cfg.steps,
        metadata={
            "strategy": "parameter_server",
            "mode": cfg.mode.value,
            "servers": b.servers,
            "placement": cfg.placement.value,
            "staleness": b.lag,
            "workers": len(b.workers),
            "microbatches": microbatches,
        },
    )


class _Builder:
    """The programs of one :func:`build` and the sizes and times every step shares."""

    def __init__(
        self, profile: LayerProfile, world: int, microbatches: int, cfg: ParameterServerConfig
    ) -> None:
        self.servers = server_ranks(world, cfg)
        self.workers = [
            r
            for r in range(world)
            if cfg.placement is PSPlacement.COLOCATED or r not in self.servers
        ]
        shard_n = profile.total_params() / cfg.servers
        self.push_B = shard_n * profile.grad_bytes
        self.pull_B = shard_n * profile.param_bytes
        self.fwd_s = microbatches * (
            profile.embed_fwd_s + profile.head_fwd_s + sum(lc.fwd_s for lc in profile.layers)
        )
        self.bwd_s = microbatches * (
            profile.embed_bwd_s
            + profile.head_bwd_s
            + sum(lc.bwd_s + lc.recompute_s for lc in profile.layers)
        )
        self.agg_s = shard_n * profile.grad_bytes / profile.memory_Bps  # read one pushed shard
        self.upd_s = shard_n * profile.optimizer_s_per_param
        self.progs = {r: Program(rank=r) for r in range(world)}
        self.lag = 0 if cfg.mode is PSMode.SYNC else cfg.staleness
        # pulls[w][k] = ids (on w) the worker's step k+1+lag waits for
        self.pulls: dict[int, list[list[int]]] = {w: [] for w in self.workers}
        self.local_upd: dict[tuple[int, int], int] = {}  # (server rank, step) -> update id

    def worker_step(self, w: int, k: int) -> int:
        """Worker ``w``'s step ``k``: compute, push to and pull from every other server;
        return its backward's id."""
        p = self.progs[w]
        lag = self.lag
        wait = self.pulls[w][k - 1 - lag] if k - 1 - lag >= 0 else []
        f = p.compute(f"fwd.s{k}", duration_s=self.fwd_s, deps=wait, category="fwd")
        b = p.compute(f"bwd.s{k}", duration_s=self.bwd_s, deps=(f,), category="bwd")
        got: list[int] = []
        for j, s in enumerate(self.servers):
            if s == w:
                continue
            p.send(
                f"ps.push.s{k}.j{j}", peer=s, size_B=self.push_B, tag=1,
                stream=f"ps.push{j}", deps=(b,), category="ps",
            )  # fmt: skip
            pull = p.recv(
                f"ps.pull.s{k}.j{j}", peer=s, size_B=self.pull_B, tag=2,
                stream=f"ps.pull{j}", category="ps",
            )  # fmt: skip
            got.append(pull)
        self.pulls[w].append(got)
        return b

    def _push_in(self, j: int, s: int, k: int, w: int) -> int:
        return self.progs[s].recv(
            f"ps.srv{j}.in.s{k}.w{w}", peer=w, size_B=self.push_B, tag=1,
            stream=f"ps.srv{j}.in{w}", category="ps",
        )  # fmt: skip

    def _pull_out(self, j: int, s: int, k: int, w: int, u: int) -> None:
        self.progs[s].send(
            f"ps.srv{j}.out.s{k}.w{w}", peer=w, size_B=self.pull_B, tag=2,
            stream=f"ps.srv{j}.out{w}", deps=(u,), category="ps",
        )  # fmt: skip

    def server_sync(self, j: int, s: int, k: int, bwd_ids: dict[int, int]) -> None:
        """Server ``j`` (rank ``s``) in step ``k``: every push in, one update, every pull out."""
        others = [w for w in self.workers if w != s]
        ins = [self._push_in(j, s, k, w) for w in others]
        if s in bwd_ids:
            ins.append(bwd_ids[s])
        u = self.progs[s].compute(
            f"ps.srv{j}.update.s{k}",
            duration_s=self.agg_s * len(self.workers) + self.upd_s,
            deps=ins,
            stream=f"ps.srv{j}",
            category="optim",
        )
        self.local_upd[(s, k)] = u
        for w in others:
            self._pull_out(j, s, k, w, u)

    def server_async(self, j: int, s: int, k: int, bwd_ids: dict[int, int]) -> None:
        """Server ``j`` (rank ``s``) in step ``k``: each push updated and answered alone."""
        sp = self.progs[s]
        for w in self.workers:
            if w == s:
                self.local_upd[(s, k)] = sp.compute(
                    f"ps.srv{j}.update.s{k}.local",
                    duration_s=self.agg_s + self.upd_s,
                    deps=(bwd_ids[s],),
                    stream=f"ps.srv{j}.w{w}",
                    category="optim",
                )
                continue
            r = self._push_in(j, s, k, w)
            u = sp.compute(
                f"ps.srv{j}.update.s{k}.w{w}",
                duration_s=self.agg_s + self.upd_s,
                deps=(r,),
                stream=f"ps.srv{j}.w{w}",
                category="optim",
            )
            self._pull_out(j, s, k, w, u)
