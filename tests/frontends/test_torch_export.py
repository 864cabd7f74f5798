"""The torch.export frontend: small modules imported from their core-ATen programs and run by
the reference interpreter vs torch eager (fp32 relative L2 <= 1e-5, others exact); errors name
the op and its source line; a declared dynamic batch stays symbolic; a compile is reproducible.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")
# torch.export's own deprecation notices (pytree internals), not aotc's.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
nn = torch.nn
F = torch.nn.functional

import compiler  # noqa: E402
from compiler.api import compile_to_directory  # noqa: E402
from compiler.errors import ModelError, UnsupportedError  # noqa: E402
from compiler.frontends.torch_export import import_torch  # noqa: E402
from compiler.ir.interpreter import interpret  # noqa: E402
from compiler.ir.types import Sym  # noqa: E402
from compiler.ir.verifier import verify  # noqa: E402
from conftest import rel_l2, tree_bytes  # noqa: E402


class Fn(nn.Module):
    """A module around a function, so each case is one line."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) + 0.1


def ints(high, *shape, seed=0):
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


def conv_bn_relu():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    module[1].running_mean.normal_()
    module[1].running_var.uniform_(0.5, 1.5)
    return module


def seeded(factory):
    torch.manual_seed(0)
    return factory()


X4 = (randn(2, 4, 9, 9),)
X3 = (randn(2, 5, 6),)
CASES = {
    "conv_bn_relu": (conv_bn_relu, X4),
    "conv_grouped_dilated": (lambda: seeded(lambda: nn.Conv2d(4, 8, 3, padding=2, dilation=2, groups=2)), X4),
    "conv_no_bias": (lambda: seeded(lambda: nn.Conv2d(4, 3, (1, 3), bias=False)), X4),
    "linear": (lambda: seeded(lambda: nn.Linear(6, 3)), X3),
    "mm": (lambda: Fn(lambda a, b: a @ b), (randn(3, 4), randn(4, 5, seed=1))),
    "bmm": (lambda: Fn(lambda a, b: a @ b), (randn(2, 3, 4), randn(2, 4, 5, seed=1))),
    "max_pool_ceil": (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), X4),
    "avg_pool": (lambda: nn.AvgPool2d(3, 2, padding=1), X4),
    "avg_pool_exclude_pad": (lambda: nn.AvgPool2d(2, 2, padding=1, count_include_pad=False), X4),
    "adaptive_avg_pool_1": (lambda: nn.AdaptiveAvgPool2d(1), X4),
    "adaptive_avg_pool_3": (lambda: nn.AdaptiveAvgPool2d(3), X4),
    "layer_norm": (lambda: seeded(lambda: nn.LayerNorm(6)), (randn(2, 5, 6),)),
    "layer_norm_no_affine": (lambda: nn.LayerNorm([5, 6], elementwise_affine=False), (randn(2, 5, 6),)),
    "softmax": (lambda: nn.Softmax(dim=1), X3),
    "log_softmax": (lambda: nn.LogSoftmax(dim=-1), X3),
    "gelu": (lambda: nn.GELU(), X3),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), X3),
    "relu6_hardtanh": (lambda: nn.ReLU6(), X3),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), X3),
    "elu": (lambda: nn.ELU(0.5), X3),
    "math": (lambda: Fn(lambda x: torch.sigmoid(x) * torch.tanh(x) - x.exp() / 3 + x.abs().sqrt() + x.rsqrt().nan_to_num(0.0) * 0),
             X3),
    "arithmetic_scalars": (lambda: Fn(lambda x: (x + 2) * 3 - 1.5 / (x.abs() + 1) + torch.add(x, x, alpha=2) - x ** 3), X3),
    "pow_and_clamp": (lambda: Fn(lambda x: x.clamp(-0.5, 0.5) + x.clamp(min=0) + x.pow(2)), X3),
    "compare_where": (lambda: Fn(lambda x, y: torch.where((x > y) & (x != 0) | ~(y < 0.5), x, y)),
                      (randn(2, 5, 6), randn(5, 6, seed=1))),
    "int_promotion": (lambda: Fn(lambda x, i: x * i + i * 0.5 + (i // 2).float()), (randn(2, 3), ints(5, 2, 3))),
    "to_dtype": (lambda: Fn(lambda x: x.to(torch.int32).to(torch.float32) + x.to(torch.float64).float()), X3),
    "reductions": (lambda: Fn(lambda x: x.mean(-1, keepdim=True) + x.sum(1).unsqueeze(1) + x.amax(dim=(1, 2), keepdim=True)),
                   X3),
    "any_all": (lambda: Fn(lambda x: (x > 0).any(-1) & (x > -2).all(-1)), X3),
    "view_permute": (lambda: Fn(lambda x: x.view(2, 30).reshape(2, 3, 10).permute(2, 0, 1).transpose(0, 1).flatten(1)), X3),
    "expand_squeeze": (lambda: Fn(lambda x: x[:, :1].expand(2, 4, 6).unsqueeze(0).squeeze(0).squeeze(1)), X3),
    "slice_select": (lambda: Fn(lambda x: x[:, 1:4, ::2] + x[:, -1:, 1::2] + x[1, 2, :3]), X3),
    "cat_split": (lambda: Fn(lambda x: torch.cat([*x.split([2, 3], dim=1)[::-1], x.chunk(5, dim=1)[0]], dim=1)), X3),
    "gather_index": (lambda: Fn(lambda x, i: x.gather(2, i) + x[:, :, [1, 0, 1, 5]][:, :, :2]
                                + x.index_select(1, torch.tensor([0, 4]))[:, :1, :2]),
                     (randn(2, 5, 6), ints(6, 2, 5, 2))),
    "embedding": (lambda: seeded(lambda: nn.Embedding(11, 4)), (ints(11, 2, 7),)),
    "pad_repeat": (lambda: Fn(lambda x: F.pad(x, (1, 2, 0, 1), value=0.5).repeat(1, 2, 1) + 0), X3),
    "sdpa": (lambda: Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v)), tuple(randn(2, 3, 5, 4, seed=i) for i in range(3))),
    "sdpa_causal_scaled": (lambda: Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)),
                           tuple(randn(2, 3, 5, 4, seed=i) for i in range(3))),
    "sdpa_bool_mask_fully_masked_row": (
        lambda: Fn(lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=torch.tensor([[True] * 5, [False] * 5, [True, False] * 2 + [True]] * 2)[:5])),
        tuple(randn(2, 3, 5, 4, seed=i) for i in range(3))),
    "sdpa_float_mask": (lambda: Fn(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)),
                        tuple(randn(2, 3, 5, 4, seed=i) for i in range(4))[:3] + (randn(5, 5, seed=9),)),
    "silu_hardswish_mish": (lambda: Fn(lambda x: F.silu(x) + F.hardswish(x) + F.mish(x) + F.softplus(x)), X3),
    "selu": (lambda: nn.SELU(), X3),
    "group_norm": (lambda: seeded(lambda: nn.GroupNorm(2, 4)), X4),
    "instance_norm": (lambda: nn.InstanceNorm2d(4, affine=True), X4),
    "variance_and_norm": (lambda: Fn(lambda x: x.var(1, keepdim=True) + F.normalize(x, dim=-1)
                                     + torch.linalg.vector_norm(x, ord=1, dim=-1, keepdim=True)), X3),
    "upsample_nearest": (lambda: Fn(lambda x: F.interpolate(x, scale_factor=2) + F.interpolate(x, size=(18, 18))), X4),
    "upsample_nearest_fraction": (lambda: Fn(lambda x: F.interpolate(x, size=(5, 13))), X4),
    "conv1d_same": (lambda: seeded(lambda: nn.Conv1d(5, 3, 4, padding="same")), X3),
    "mask_from_arange": (lambda: Fn(lambda x: x.masked_fill(torch.arange(6) > torch.arange(5)[:, None], float("-inf"))
                                    .softmax(-1)), X3),
}


def run_case(module, inputs):
    graph, _ = import_torch(module, inputs)
    verify(graph)
    feeds = {v.name: x.numpy() for v, x in zip(graph.inputs, inputs)}
    with np.errstate(invalid="ignore"):     # NaN on purpose: rsqrt of negatives, fully masked rows
        ours = interpret(graph, feeds)
    with torch.no_grad():
        theirs = module(*inputs)
    return graph, ours[graph.outputs[0]], theirs.numpy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_small_module_matches_torch_eager(case):
    factory, inputs = CASES[case]
    graph, ours, theirs = run_case(factory().eval(), inputs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, case
    if theirs.dtype.kind == "f":
        assert rel_l2(ours, theirs) <= 1e-5, case
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_parameters_become_constants_and_shape_arithmetic_folds():
    graph, _ = import_torch(conv_bn_relu().eval(), X4)
    assert [v.name for v in graph.inputs] == ["input"]
    assert {n.op for n in graph.nodes} == {"Conv", "BatchNormalization", "Relu"}
    assert len(graph.constants) == 6            # conv weight and bias; bn scale, bias, mean, var


class TwoOutputs(nn.Module):
    def forward(self, x, y):
        return x.relu(), y, x.relu()


def test_outputs_are_named_y_i_and_may_repeat_or_be_inputs():
    x, y = randn(2, 3), randn(2, 3, seed=1)
    graph, _ = import_torch(TwoOutputs(), (x, y))
    assert graph.outputs == ("y_0", "y_1", "y_2")
    ours = interpret(graph, {graph.inputs[0].name: x.numpy(), graph.inputs[1].name: y.numpy()})
    np.testing.assert_array_equal(ours["y_0"], x.relu().numpy())
    np.testing.assert_array_equal(ours["y_1"], y.numpy())
    np.testing.assert_array_equal(ours["y_2"], x.relu().numpy())


def test_already_exported_program_is_accepted():
    module = conv_bn_relu().eval()
    program = torch.export.export(module, X4)
    graph, _ = import_torch(program)
    assert {n.op for n in graph.nodes} == {"Conv", "BatchNormalization", "Relu"}


class LinearViewSlice(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = seeded(lambda: nn.Linear(6, 4))

    def forward(self, x):
        return self.linear(x).relu().view(x.shape[0], 2, 2).sum(-1)[:, :1]


def test_dynamic_batch_stays_symbolic():
    module = LinearViewSlice().eval()
    x = randn(3, 6)
    graph, _ = import_torch(module, (x,), dynamic_batch=True)
    assert graph.inputs[0].type.shape == (Sym("batch"), 6)
    assert graph.types[graph.outputs[0]].shape == (Sym("batch"), 1)
    with torch.no_grad():
        expected = module(x).numpy()
    assert rel_l2(interpret(graph, {"x": x.numpy()})["y"], expected) <= 1e-5


class Add(nn.Module):
    def forward(self, x, y):
        return x + y


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(-1)


def test_dynamic_shapes_names_come_from_the_dims():
    batch = torch.export.Dim("n")
    graph, _ = import_torch(Add(), (randn(3, 6), randn(3, 6)),
                            dynamic_shapes=({0: batch}, {0: batch}))
    assert [v.type.shape for v in graph.inputs] == [(Sym("n"), 6), (Sym("n"), 6)]


def test_symbolic_expression_sizes_are_unsupported_with_the_op_named():
    with pytest.raises(UnsupportedError, match=r"op aten.view.default .* has the symbolic size 6\*batch"):
        import_torch(Flatten(), (randn(3, 6),), dynamic_batch=True)


class Cumulative(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


def test_unsupported_op_names_the_op_and_the_source_line():
    with pytest.raises(UnsupportedError) as info:
        import_torch(Cumulative(), X3)
    message = str(info.value)
    line = inspect.getsourcelines(Cumulative.forward)[1] + 1
    assert "\n" not in message
    assert "aten.cumsum.default" in message
    assert f"test_torch_export.py:{line}" in message and "torch.cumsum(x, dim=1)" in message


class TwoUnsupported(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1) + torch.cumprod(x, dim=1)


def test_unsupported_op_lists_the_others():
    with pytest.raises(UnsupportedError, match=r"aten.cumsum.default .*; other ops without a converter: "
                                               r"aten.cumprod.default$"):
        import_torch(TwoUnsupported(), X3)


def test_unsupported_op_names_its_module():
    module = nn.Sequential(nn.Identity(), Cumulative())
    with pytest.raises(UnsupportedError, match=r"module '1': Cumulative"):
        import_torch(module, X3)


def test_module_without_example_inputs_is_a_model_error():
    with pytest.raises(ModelError, match="example_inputs"):
        compiler.compile(nn.ReLU())


def test_dynamic_batch_with_an_onnx_model_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="dynamic_shapes and dynamic_batch apply to torch models"):
        compiler.compile(tmp_path / "missing.onnx", dynamic_batch=True)


def small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5), nn.Softmax(-1)).eval()


class UpBlock(nn.Module):
    """A decoder step: group norm, SiLU, nearest upsampling, convolution."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.norm, self.conv = nn.GroupNorm(2, 4), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(F.silu(self.norm(x)), scale_factor=2))


def test_compiled_decoder_block_matches_torch_eager():
    module = UpBlock().eval()
    artifact = compiler.compile(module, example_inputs=X4, dynamic_batch=True)
    x = randn(3, 4, 9, 9, seed=3)
    with torch.no_grad():
        expected = module(x).numpy()
    assert rel_l2(artifact(x.numpy()), expected) <= 1e-5


def test_saved_program_compiles_from_its_path(tmp_path):
    module = small_cnn()
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(module, (randn(2, 3, 8, 8),)), str(path))
    artifact = compiler.compile(path)
    x = randn(2, 3, 8, 8, seed=4)
    with torch.no_grad():
        assert rel_l2(artifact(x.numpy()), module(x).numpy()) <= 1e-5


def test_a_corrupt_pt2_file_is_a_model_error(tmp_path):
    path = tmp_path / "broken.pt2"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ModelError, match=r"broken\.pt2: not a torch.export archive"):
        compiler.compile(path)


def test_compiled_dynamic_batch_runs_at_two_batch_sizes():
    module = small_cnn()
    artifact = compiler.compile(module, example_inputs=(randn(2, 3, 8, 8),), dynamic_batch=True)
    ((_, ttype),) = artifact.inputs
    assert ttype.shape[0] == Sym("batch")
    for batch in (1, 5):
        x = randn(batch, 3, 8, 8, seed=batch)
        with torch.no_grad():
            expected = module(x).numpy()
        actual = artifact(x.numpy())
        assert actual.shape == (batch, 5)
        assert rel_l2(actual, expected) <= 1e-5


def test_compiling_a_module_twice_gives_identical_bytes(tmp_path):
    inputs = (randn(2, 3, 8, 8),)
    first = compile_to_directory(small_cnn(), "cpu:x86-64-v3", tmp_path / "a", example_inputs=inputs)
    second = compile_to_directory(small_cnn(), "cpu:x86-64-v3", tmp_path / "b", example_inputs=inputs)
    a, b = tree_bytes(first), tree_bytes(second)
    assert sorted(a) == sorted(b)
    assert not [name for name in a if a[name] != b[name]]


class MaskedAttention(nn.Module):
    def forward(self, q, k, v):
        mask = torch.ones(5, 5, dtype=torch.bool).tril()
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def test_attention_is_recognised_and_compiled():
    inputs = tuple(randn(2, 3, 5, 4, seed=i) for i in range(3))
    artifact = compiler.compile(MaskedAttention(), example_inputs=inputs)
    assert "Attention(" in (artifact.directory / "graph.ir").read_text()
    with torch.no_grad():
        expected = MaskedAttention()(*inputs).numpy()
    assert rel_l2(artifact(*(x.numpy() for x in inputs)), expected) <= 1e-5
