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

With a blocking host (``build(..., blocking_host=True)``: the rig recorder's ``ps-sync``, one
server thread making blocking ``recv`` and ``send`` calls worker by worker,
``simulator/traces/worker.py``) a synchronous server's receives, update and sends run one at a
time in that order on one stream, so the next step's receives start after the last send.

``Workload.steps_per_program`` is ``steps`` (several steps are simulated so that async pipelining
shows); results are per step. Aggregation and update are priced at the profile's memory rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.core.ir import Program, Workload
from simulator.workload.profile import LayerProfile
from simulator.workload.strategies.options import ParameterServerConfig, PSMode, PSPlacement


def server_ranks(world: int, cfg: ParameterServerConfig) -> list[int]:
    """Ranks that host parameter-server shards."""
    if cfg.placement is PSPlacement.DEDICATED:
        return list(range(world - cfg.servers, world))
    return [j * world // cfg.servers for j in range(cfg.servers)]


@dataclass(frozen=True)
class _Costs:
    """Per-step sizes and durations of one parameter-server job (bytes, seconds)."""

    push_B: float  # one gradient shard
    pull_B: float  # one parameter shard
    fwd_s: float  # a worker's forward over all its micro-batches
    bwd_s: float  # its backward (and recomputation)
    agg_s: float  # a server reading one pushed shard
    upd_s: float  # a server's optimizer step on its shard


def _costs(profile: LayerProfile, microbatches: int, servers: int) -> _Costs:
    shard_n = profile.total_params() / servers
    return _Costs(
        push_B=shard_n * profile.grad_bytes,
        pull_B=shard_n * profile.param_bytes,
        fwd_s=microbatches
        * (profile.embed_fwd_s + profile.head_fwd_s + sum(lc.fwd_s for lc in profile.layers)),
        bwd_s=microbatches
        * (
            profile.embed_bwd_s
            + profile.head_bwd_s
            + sum(lc.bwd_s + lc.recompute_s for lc in profile.layers)
        ),
        agg_s=shard_n * profile.grad_bytes / profile.memory_Bps,
        upd_s=shard_n * profile.optimizer_s_per_param,
    )


@dataclass
class _Programs:
    """The job's programs as they are built, step by step.

    ``pulls[w][k]``: the ids (on ``w``) that the worker's step ``k + 1 + lag`` waits for;
    ``local_upd[(s, k)]``: a colocated server's update of its own shard at step ``k``.
    """

    world: int
    servers: list[int]
    workers: list[int]
    c: _Costs
    lag: int
    one_thread: bool = False  # the server's receives, update and sends on one stream, in order
    progs: dict[int, Program] = field(default_factory=dict)
    pulls: dict[int, list[list[int]]] = field(default_factory=dict)
    local_upd: dict[tuple[int, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.progs = {r: Program(rank=r) for r in range(self.world)}
        self.pulls = {w: [] for w in self.workers}

    def worker_step(self, w: int, k: int) -> int:
        """Forward and backward of step ``k`` on worker ``w``, then a push and a pull per
        remote shard; the backward's id."""
        p, c = self.progs[w], self.c
        wait = self.pulls[w][k - 1 - self.lag] if k - 1 - self.lag >= 0 else []
        f = p.compute(f"fwd.s{k}", duration_s=c.fwd_s, deps=wait, category="fwd")
        b = p.compute(f"bwd.s{k}", duration_s=c.bwd_s, deps=(f,), category="bwd")
        got: list[int] = []
        for j, s in enumerate(self.servers):
            if s == w:
                continue
            p.send(
                f"ps.push.s{k}.j{j}",
                peer=s,
                size_B=c.push_B,
                tag=1,
                stream=f"ps.push{j}",
                deps=(b,),
                category="ps",
            )
            got.append(
                p.recv(
                    f"ps.pull.s{k}.j{j}",
                    peer=s,
                    size_B=c.pull_B,
                    tag=2,
                    stream=f"ps.pull{j}",
                    category="ps",
                )
            )
        self.pulls[w].append(got)
        return b

    def _push_in(self, j: int, s: int, k: int, w: int) -> int:
        return self.progs[s].recv(
            f"ps.srv{j}.in.s{k}.w{w}",
            peer=w,
            size_B=self.c.push_B,
            tag=1,
            stream=f"ps.srv{j}" if self.one_thread else f"ps.srv{j}.in{w}",
            category="ps",
        )

    def _pull_out(self, j: int, s: int, k: int, w: int, u: int) -> None:
        self.progs[s].send(
            f"ps.srv{j}.out.s{k}.w{w}",
            peer=w,
            size_B=self.c.pull_B,
            tag=2,
            stream=f"ps.srv{j}" if self.one_thread else f"ps.srv{j}.out{w}",
            deps=(u,),
            category="ps",
        )

    def serve_sync(self, j: int, s: int, k: int, bwd_ids: dict[int, int]) -> None:
        """Server ``j`` (rank ``s``) at step ``k``, BSP: every push, one update, every pull."""
        c = self.c
        ins = [self._push_in(j, s, k, w) for w in self.workers if w != s]
        if s in bwd_ids:
            ins.append(bwd_ids[s])
        u = self.progs[s].compute(
            f"ps.srv{j}.update.s{k}",
            duration_s=c.agg_s * len(self.workers) + c.upd_s,
            deps=ins,
            stream=f"ps.srv{j}",
            category="optim",
        )
        self.local_upd[(s, k)] = u
        for w in self.workers:
            if w != s:
                self._pull_out(j, s, k, w, u)

    def serve_async(self, j: int, s: int, k: int, bwd_ids: dict[int, int]) -> None:
        """Server ``j`` (rank ``s``) at step ``k``: each worker's push updated and answered
        on its own (its own shard locally when colocated)."""
        sp, c = self.progs[s], self.c
        for w in self.workers:
            if w == s:
                self.local_upd[(s, k)] = sp.compute(
                    f"ps.srv{j}.update.s{k}.local",
                    duration_s=c.agg_s + c.upd_s,
                    deps=(bwd_ids[s],),
                    stream=f"ps.srv{j}.w{w}",
                    category="optim",
                )
                continue
            r = self._push_in(j, s, k, w)
            u = sp.compute(
                f"ps.srv{j}.update.s{k}.w{w}",
                duration_s=c.agg_s + c.upd_s,
                deps=(r,),
                stream=f"ps.srv{j}.w{w}",
                category="optim",
            )
            self._pull_out(j, s, k, w, u)


def build(
    profile: LayerProfile,
    world: int,
    microbatches: int,
    cfg: ParameterServerConfig,
    *,
    blocking_host: bool = False,
) -> Workload:
    """Workload of ``cfg.steps`` parameter-server steps on ``world`` ranks (``blocking_host``:
    a synchronous server serves one worker at a time, see the module docstring)."""
    if cfg.servers >= world and cfg.placement is PSPlacement.DEDICATED:
        raise ValueError("dedicated servers leave no workers")
    servers = server_ranks(world, cfg)
    workers = [
        r for r in range(world) if cfg.placement is PSPlacement.COLOCATED or r not in servers
    ]
    sync = cfg.mode is PSMode.SYNC
    lag = 0 if sync else cfg.staleness
    costs = _costs(profile, microbatches, cfg.servers)
    b = _Programs(world, servers, workers, costs, lag, one_thread=sync and blocking_host)
    for k in range(cfg.steps):
        bwd_ids = {w: b.worker_step(w, k) for w in workers}
        for j, s in enumerate(servers):
            (b.serve_sync if sync else b.serve_async)(j, s, k, bwd_ids)
        for s in servers:
            if s in b.pulls:
                b.pulls[s][k].append(b.local_upd[(s, k)])
    return Workload(
        programs=[b.progs[r] for r in range(world) if len(b.progs[r])],
        world=world,
        steps_per_program=cfg.steps,
        metadata={
            "strategy": "parameter_server",
            "mode": cfg.mode.value,
            "servers": servers,
            "placement": cfg.placement.value,
            "staleness": lag,
            "workers": len(workers),
            "microbatches": microbatches,
        },
    )
