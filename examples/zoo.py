"""The model zoo: ResNet-18/50, MobileNetV2, BERT-small, GPT-2-small and an MLP, with random
weights and fixed seeds, exported to ONNX by both torch exporters into a cache outside git, or
as a torch.export ExportedProgram for aotc's torch.export frontend. The GPU presets are the
full-size models at the batch and sequence the CUDA bar names: resnet50_b32, bert_base (BERT-base,
batch 8, sequence 128) and gpt2_124m (GPT-2 124M, batch 1, sequence 512), from transformers'
default configs.

    python examples/zoo.py resnet18 --exporter torchscript      # prints the .onnx path
    python examples/zoo.py resnet18 --exporter torch.export     # saves and prints a .pt2 path

    program = zoo.exported_program("resnet18")                  # rebuilt in memory, same weights
    artifact = compiler.compile(program)

Nothing is downloaded: every model is built from code.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

MODELS = ("mlp", "resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2")
# Full-size GPU presets (hundreds of MB of weights each: exported where they run, never carried).
GPU_MODELS = ("resnet50_b32", "bert_base", "gpt2_124m")
# The CUDA bar's five configurations, in the order the README's table lists them.
GPU_BAR = ("resnet50", "resnet50_b32", "mobilenet_v2", "bert_base", "gpt2_124m")
EXPORTERS = ("torchscript", "dynamo")
OPSETS = {"torchscript": 17, "dynamo": 18}
SEED = 0


@dataclass(frozen=True)
class ZooModel:
    module: object                 # torch.nn.Module in eval mode
    example_inputs: tuple          # torch tensors
    input_names: tuple[str, ...]
    dynamic_batch: bool


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aotc" / "zoo"


def _import_torchvision():
    """torchvision's PyPI wheel carries CUDA ops that fail to load beside the CPU torch wheel
    ("operator torchvision::nms does not exist"); defining their two schemas first lets the
    pure-Python model definitions import. Where its ops load (a matching torch), it imports as is."""
    import torch
    try:
        import torchvision
        return torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
    for module in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[module]
    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    torch._aotc_torchvision_schemas = library  # keep the registration alive
    import torchvision
    return torchvision


def build(name: str) -> ZooModel:
    import torch
    torch.manual_seed(SEED)
    if name == "mlp":
        module = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                     torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                     torch.nn.Linear(128, 10))
        return ZooModel(module.eval(), (torch.randn(4, 784),), ("x",), True)
    if name in ("resnet18", "resnet50", "mobilenet_v2", "resnet50_b32"):
        torchvision = _import_torchvision()
        batch = 32 if name == "resnet50_b32" else 1
        module = getattr(torchvision.models, name.split("_b")[0])(weights=None)
        _randomize_batchnorm(module)
        return ZooModel(module.eval(), (torch.randn(batch, 3, 224, 224),), ("x",), False)
    if name in ("bert", "gpt2", "bert_base", "gpt2_124m"):
        _import_torchvision()  # transformers imports torchvision when it is installed
    import transformers
    if name in ("bert", "bert_base"):
        # BERT-small for the CPU zoo; BertConfig's defaults are BERT-base (768 wide, 12 layers).
        config = (transformers.BertConfig() if name == "bert_base" else
                  transformers.BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                          intermediate_size=1024, vocab_size=30522,
                                          max_position_embeddings=512))
        module = transformers.BertModel(config, add_pooling_layer=False)
        ids = _token_ids(config.vocab_size, (8, 128) if name == "bert_base" else (1, 128))
        return ZooModel(_FirstOutput(module).eval(), (ids,), ("input_ids",), False)
    if name in ("gpt2", "gpt2_124m"):
        # GPT2Config's defaults are the 124M model (768 wide, 12 layers, 12 heads).
        config = (transformers.GPT2Config(use_cache=False) if name == "gpt2_124m" else
                  transformers.GPT2Config(n_embd=384, n_layer=4, n_head=6, n_positions=1024,
                                          vocab_size=50257, use_cache=False))
        module = transformers.GPT2Model(config)
        ids = _token_ids(config.vocab_size, (1, 512) if name == "gpt2_124m" else (1, 128))
        return ZooModel(_FirstOutput(module).eval(), (ids,), ("input_ids",), False)
    raise ValueError(f"unknown zoo model '{name}'; choose from {', '.join(MODELS + GPU_MODELS)}")


def _token_ids(vocab_size: int, shape: tuple[int, int]):
    import torch
    return torch.randint(0, vocab_size, shape, generator=torch.Generator().manual_seed(SEED))


def _randomize_batchnorm(module) -> None:
    """Fresh BatchNorm layers are identities; random statistics make the test meaningful."""
    import torch
    generator = torch.Generator().manual_seed(SEED)
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            n = layer.num_features
            layer.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            layer.running_var.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
            layer.weight.data.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
            layer.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


def _first_output_class():
    import torch

    class FirstOutput(torch.nn.Module):
        """Returns the last hidden state alone, so both exporters emit one plain output."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            # An explicit all-ones mask keeps transformers off its packed-sequence detection
            # (torch.diff), which the TorchScript exporter cannot export.
            mask = torch.ones_like(input_ids)
            return self.inner(input_ids=input_ids, attention_mask=mask, return_dict=False)[0]

    return FirstOutput


def _FirstOutput(inner):  # noqa: N802 (a factory standing in for the class)
    return _first_output_class()(inner)


def export(name: str, exporter: str, cache_dir: Path | None = None) -> Path:
    """Export `name` with `exporter` ('torchscript' or 'dynamo'); cached by file name."""
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter '{exporter}'; choose from {', '.join(EXPORTERS)}")
    cache_dir = Path(cache_dir or default_cache_dir())
    path = cache_dir / f"{name}.{exporter}.onnx"
    if path.exists():
        return path
    import torch
    cache_dir.mkdir(parents=True, exist_ok=True)
    model = build(name)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with torch.no_grad():
        if exporter == "torchscript":
            dynamic_axes = {n: {0: "batch"} for n in model.input_names} if model.dynamic_batch else None
            if dynamic_axes:
                dynamic_axes["y"] = {0: "batch"}
            torch.onnx.export(model.module, model.example_inputs, str(tmp), dynamo=False,
                              opset_version=OPSETS[exporter], input_names=list(model.input_names),
                              output_names=["y"], dynamic_axes=dynamic_axes)
        else:
            dynamic_shapes = ({"input": {0: torch.export.Dim("batch")}} if model.dynamic_batch else None)
            if dynamic_shapes is not None:
                dynamic_shapes = ({0: torch.export.Dim("batch")},)
            program = torch.onnx.export(model.module, model.example_inputs, dynamo=True,
                                        opset_version=OPSETS[exporter],
                                        input_names=list(model.input_names), output_names=["y"],
                                        dynamic_shapes=dynamic_shapes, external_data=False,
                                        verbose=False)
            program.save(str(tmp), external_data=False)
    os.replace(tmp, path)
    return path


def exported_program(name: str, model: ZooModel | None = None, device: str = "cpu", dtype: str = "fp32"):
    """`name` exported with torch.export (batch axis dynamic where the model's is), not yet
    decomposed. Rebuilt on each call rather than cached: export takes seconds, and the seeded
    weights make every rebuild the same program. `model`: `build(name)`, if already at hand.
    `device`: where its weights live and it runs ("cuda" for the GPU bench's torch peers: a
    program traced there carries the device in its own ops, e.g. the arange a mask is made of)."""
    import torch
    model = model or build(name)
    module, inputs = model.module, model.example_inputs
    if device != "cpu":
        module, inputs = module.to(device), tuple(t.to(device) for t in inputs)
    if dtype != "fp32":   # a half model for the half bench's torch peers (`model.half()`)
        half = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
        module, inputs = module.to(half), tuple(t.to(half) if t.is_floating_point() else t for t in inputs)
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if model.dynamic_batch else None
    with torch.no_grad():
        return torch.export.export(module, inputs, dynamic_shapes=dynamic_shapes)


def save_exported_program(name: str, cache_dir: Path | None = None, device: str = "cpu", dtype: str = "fp32") -> Path:
    """`exported_program(name, device=device)` saved with torch.export.save (a .pt2 archive)
    into the cache (`NAME.pt2`, or `NAME.cuda.pt2` for a program exported on the GPU)."""
    import torch
    cache_dir = Path(cache_dir or default_cache_dir())
    stem = name if dtype == "fp32" else f"{name}.{dtype}"
    path = cache_dir / (f"{stem}.pt2" if device == "cpu" else f"{stem}.{device}.pt2")
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.pt2")
        torch.export.save(exported_program(name, device=device, dtype=dtype), str(tmp))
        os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=MODELS + GPU_MODELS + ("all",))
    parser.add_argument("--exporter", choices=EXPORTERS + ("both", "torch.export"), default="both",
                        help="ONNX exporter(s), or torch.export for a .pt2 ExportedProgram")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--device", default="cpu", help="torch.export: where to export (cuda for the GPU bench's peers)")
    args = parser.parse_args(argv)
    models = MODELS if args.model == "all" else (args.model,)
    exporters = EXPORTERS if args.exporter == "both" else (args.exporter,)
    for model in models:
        if args.exporter == "torch.export":
            print(save_exported_program(model, args.cache_dir, args.device))
            continue
        for exporter in exporters:
            print(export(model, exporter, args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
