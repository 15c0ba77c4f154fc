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
    servers = server_ranks(world, cfg)
    workers = [
        r for r in range(world) if cfg.placement is PSPlacement.COLOCATED or r not in servers
    ]
    params = profile.total_params()
    shard_n = params / cfg.servers
    push_B = shard_n * profile.grad_bytes
    pull_B = shard_n * profile.param_bytes
    fwd_s = microbatches * (
        profile.embed_fwd_s + profile.head_fwd_s + sum(lc.fwd_s for lc in profile.layers)
    )
    bwd_s = microbatches * (
        profile.embed_bwd_s
        + profile.head_bwd_s
        + sum(lc.bwd_s + lc.recompute_s for lc in profile.layers)
    )
    n_w = len(workers)
    agg_s = shard_n * profile.grad_bytes / profile.memory_Bps  # read one pushed shard
    upd_s = shard_n * profile.optimizer_s_per_param
    progs = {r: Program(rank=r) for r in range(world)}
    steps = cfg.steps
    sync = cfg.mode is PSMode.SYNC
    lag = 0 if sync else cfg.staleness
    # pulls[w][k] = ids (on w) the worker's step k+1+lag waits for
    pulls: dict[int, list[list[int]]] = {w: [] for w in workers}
    local_upd: dict[tuple[int, int], int] = {}  # (server rank, step) -> update id (sync)
    for k in range(steps):
        bwd_ids: dict[int, int] = {}
        for w in workers:
            p = progs[w]
            wait = pulls[w][k - 1 - lag] if k - 1 - lag >= 0 else []
            f = p.compute(f"fwd.s{k}", duration_s=fwd_s, deps=wait, category="fwd")
            b = p.compute(f"bwd.s{k}", duration_s=bwd_s, deps=(f,), category="bwd")
            bwd_ids[w] = b
            got: list[int] = []
            for j, s in enumerate(servers):
                if s == w:
                    continue
                p.send(
                    f"ps.push.s{k}.j{j}",
                    peer=s,
                    size_B=push_B,
                    tag=1,
                    stream=f"ps.push{j}",
                    deps=(b,),
                    category="ps",
                )
                got.append(
                    p.recv(
                        f"ps.pull.s{k}.j{j}",
                        peer=s,
                        size_B=pull_B,
                        tag=2,
                        stream=f"ps.pull{j}",
                        category="ps",
                    )
                )
            pulls[w].append(got)
        for j, s in enumerate(servers):
            sp = progs[s]
            if sync:
                ins = [
                    sp.recv(
                        f"ps.srv{j}.in.s{k}.w{w}",
                        peer=w,
                        size_B=push_B,
                        tag=1,
                        stream=f"ps.srv{j}.in{w}",
                        category="ps",
                    )
                    for w in workers
                    if w != s
                ]
                if s in bwd_ids:
                    ins.append(bwd_ids[s])
                u = sp.compute(
                    f"ps.srv{j}.update.s{k}",
                    duration_s=agg_s * n_w + upd_s,
                    deps=ins,
                    stream=f"ps.srv{j}",
                    category="optim",
                )
                local_upd[(s, k)] = u
                for w in workers:
                    if w != s:
                        sp.send(
                            f"ps.srv{j}.out.s{k}.w{w}",
                            peer=w,
                            size_B=pull_B,
                            tag=2,
                            stream=f"ps.srv{j}.out{w}",
                            deps=(u,),
                            category="ps",
                        )
            else:
                for w in workers:
                    if w == s:
                        u = sp.compute(
                            f"ps.srv{j}.update.s{k}.local",
                            duration_s=agg_s + upd_s,
                            deps=(bwd_ids[s],),
                            stream=f"ps.srv{j}.w{w}",
                            category="optim",
                        )
                        local_upd[(s, k)] = u
                        continue
                    r = sp.recv(
                        f"ps.srv{j}.in.s{k}.w{w}",
                        peer=w,
                        size_B=push_B,
                        tag=1,
                        stream=f"ps.srv{j}.in{w}",
                        category="ps",
                    )
                    u = sp.compute(
                        f"ps.srv{j}.update.s{k}.w{w}",
                        duration_s=agg_s + upd_s,
                        deps=(r,),
                        stream=f"ps.srv{j}.w{w}",
                        category="optim",
                    )
                    sp.send(
                        f"ps.srv{j}.out.s{k}.w{w}",
                        peer=w,
                        size_B=pull_B,
                        tag=2,
                        stream=f"ps.srv{j}.out{w}",
                        deps=(u,),
                        category="ps",
                    )
        for s in servers:
            if s in pulls:
                pulls[s][k].append(local_upd[(s, k)])
    programs = [progs[r] for r in range(world) if len(progs[r])]
    return Workload(
        programs=programs,
        world=world,
        steps_per_program=steps,
        metadata={
            "strategy": "parameter_server",
            "mode": cfg.mode.value,
            "servers": servers,
            "placement": cfg.placement.value,
            "staleness": lag,
            "workers": n_w,
            "microbatches": microbatches,
        },
    )
