"""The seed's applications: parameter counts against the published sizes, FLOPs against
torch's own counter, and the scenarios that compare strategies on a DGX-1."""

from __future__ import annotations

import itertools

import pytest

from simulator.build import app_spec, build_variants, build_workload
from simulator.config import load_scenario
from simulator.core.errors import InputError
from simulator.topology.builders.mesh import NVLINK_BRICKS, RING_ORDER
from simulator.topology.loader import load_topology
from simulator.workload.apps.build import concat_phases
from simulator.workload.apps.conformer import ConformerSpec
from simulator.workload.apps.dcgan import DCGANSpec, step_flops
from simulator.workload.apps.encdec import EncDecSpec

BIG = EncDecSpec(
    encoder_layers=6,
    decoder_layers=6,
    hidden=1024,
    heads=16,
    ffn_hidden=4096,
    vocab=37000,
    src_len=64,
    tgt_len=64,
)

#: scenario -> (published parameter count, source)
PUBLISHED = {
    "nmt-transformer-big-dgx1": (213e6, "Vaswani et al. 2017 Table 3, Transformer (big)"),
    "speech-conformer-l-dgx1": (118.8e6, "Gulati et al. 2020 Table 1, Conformer (L)"),
    # pytorch/examples dcgan/main.py (commit 13caa078), counted by torch: G 3,576,704 + D 2,765,568
    "gan-dcgan-dgx1": (6_342_272, "pytorch/examples DCGAN, 64x64, nz 100, ngf = ndf = 64"),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_scenario_parameter_count_within_2pct_of_published(name: str) -> None:
    published, _source = PUBLISHED[name]
    n = app_spec(load_scenario(name)).total_params()
    assert abs(n / published - 1) <= 0.02, (name, n, published)


def test_conformer_block_is_24d2_plus_k32d() -> None:
    c = ConformerSpec(layers=17, hidden=512, heads=8, frames=800, labels=112)
    assert c.block_params() == 24 * 512**2 + (32 + 32) * 512
    assert c.freq_bins == 19  # 80 mel bins after two stride-2 3x3 convolutions


def test_transformer_big_layers_match_torch() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        m = torch.nn.Transformer(
            d_model=1024,
            nhead=16,
            num_encoder_layers=6,
            num_decoder_layers=6,
            dim_feedforward=4096,
            batch_first=True,
        )
        src, tgt = torch.empty(2, 64, 1024), torch.empty(2, 64, 1024)
    with FlopCounterMode(display=False) as fc:
        m(src, tgt)
    ours = 6 * BIG.encoder_layer_fwd_flops(2) + 6 * BIG.decoder_layer_fwd_flops(2)
    assert fc.get_total_flops() == pytest.approx(ours, rel=1e-9)
    # torch's stacks end in a layer norm each (2 x 2d); ours (post-norm, Vaswani) do not
    layers = 6 * BIG.encoder_layer_params() + 6 * BIG.decoder_layer_params()
    assert sum(p.numel() for p in m.parameters()) == layers + 2 * 2 * 1024


def test_cross_attention_scales_with_source_and_target() -> None:
    a = BIG.cross_attn_fwd_flops(1)
    s, t, d = 64, 64, 1024
    assert a == 4 * t * d * d + 4 * s * d * d + 4 * t * s * d


def _dcgan_torch(torch: object) -> tuple[object, object]:
    nn = torch.nn  # type: ignore[attr-defined]
    nz, ngf, ndf, nc = 100, 64, 64, 3
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    d = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    return g, d


def test_dcgan_matches_the_reference_implementation() -> None:
    """Shapes of pytorch/examples dcgan/main.py (rebuilt here, not copied): params and FLOPs."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    g, d = _dcgan_torch(torch)
    spec = DCGANSpec()
    assert spec.generator_params() == sum(p.numel() for p in g.parameters())  # type: ignore[attr-defined]
    assert spec.discriminator_params() == sum(p.numel() for p in d.parameters())  # type: ignore[attr-defined]
    with FlopCounterMode(display=False) as fc:
        img = g(torch.zeros(4, 100, 1, 1))  # type: ignore[operator]
    assert fc.get_total_flops() == pytest.approx(sum(x.fwd_flops(4) for x in spec.generator()))
    with FlopCounterMode(display=False) as fc:
        d(img)  # type: ignore[operator]
    assert fc.get_total_flops() == pytest.approx(sum(x.fwd_flops(4) for x in spec.discriminator()))
    g_f = sum(x.fwd_flops(1) for x in spec.generator())
    d_f = sum(x.fwd_flops(1) for x in spec.discriminator())
    assert step_flops(spec, 1) == pytest.approx(g_f + 6 * d_f + 3 * g_f + 2 * d_f)


def test_gan_step_has_two_gradient_syncs_of_the_right_sizes() -> None:
    sc = load_scenario("gan-dcgan-dgx1").variants()[0]
    built = build_workload(sc, load_topology(sc.topology))
    spec = DCGANSpec()
    prog = built.workload.programs[0]
    dp = [op for op in prog if op.category == "dp"]
    assert built.workload.metadata["phases"] == 2
    sizes = [op.size_B for op in dp]  # type: ignore[union-attr]
    half = next(
        i
        for i, op in enumerate(prog.ops)
        if op.name.startswith("fwd") and i > 0 and any(o.category == "optim" for o in prog.ops[:i])
    )
    first = sum(op.size_B for op in prog.ops[:half] if op.category == "dp")  # type: ignore[union-attr]
    assert first == pytest.approx(spec.discriminator_params() * 2)
    assert sum(sizes) - first == pytest.approx(spec.generator_params() * 2)


def test_concat_phases_orders_the_second_phase_after_the_first() -> None:
    sc = load_scenario("gan-dcgan-dgx1").variants()[0]
    built = build_workload(sc, load_topology(sc.topology))
    for prog in built.workload.programs:
        ids = [op.id for op in prog.ops]
        assert ids == list(range(len(ids)))
        assert all(all(d < op.id for d in op.deps) for op in prog.ops)


def test_concat_phases_rejects_different_step_counts() -> None:
    from simulator.core.ir import Workload

    with pytest.raises(ValueError, match="same number of steps"):
        concat_phases(
            [Workload(programs=[], steps_per_program=1), Workload(programs=[], steps_per_program=4)]
        )


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_application_variants_compare_strategies(name: str) -> None:
    sc = load_scenario(name)
    built = build_variants(sc, load_topology(sc.topology))
    names = [n for n, _ in built]
    assert {"allreduce", "ps-sync", "ps-async"} <= set(names)
    assert any(n not in ("allreduce", "ps-sync", "ps-async") for n in names)  # compression


def test_applications_reject_tensor_parallelism() -> None:
    sc = load_scenario("nmt-transformer-big-dgx1", ["strategy.tp=2", "strategy.dp=4"])
    with pytest.raises(InputError, match=r"strategy\.tp"):
        build_workload(sc.variants()[0], load_topology(sc.topology))


def test_dcgan_layers_must_match_image_size() -> None:
    sc = load_scenario("gan-dcgan-dgx1", ["model.layers=4"])
    with pytest.raises(InputError, match=r"model\.layers"):
        app_spec(sc)


def test_dgx1_hybrid_cube_mesh() -> None:
    topo = load_topology("dgx1-v100")
    assert topo.num_ranks == 8
    bricks = {i: 0 for i in range(8)}
    for (a, b), n in NVLINK_BRICKS.items():
        bricks[a] += n
        bricks[b] += n
    assert set(bricks.values()) == {6}  # six NVLink2 bricks per V100
    ring = [*RING_ORDER, RING_ORDER[0]]
    for a, b in itertools.pairwise(ring):
        assert NVLINK_BRICKS.get((min(a, b), max(a, b))) == 2
