"""fuse: group each contraction (Conv, Gemm, MatMul; MaxPool too) with the elementwise tail that consumes
it alone (Adds of a bias or a residual, then ReLU/Clip/GELU), so the tail runs in the
contraction's epilogue and the intermediate tensors are never written.

Needs: a verified graph; the target's `fusible` data says whether it fuses epilogues at all.
Returns a FusionPlan (an analysis); `lower` turns each group into one kernel.

    %c = Conv(%x, %w, %b); %s = Add(%c, %skip); %y = Relu(%s)
    ->  group(anchor=conv, epilogue=(add, relu))    one kernel: y = relu(conv(x) + b + skip)
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.graph import Graph, Node
from compiler.ir.ops.common import broadcast_shapes
from compiler.ir.ops.registry import OpError
from compiler.ir.types import TensorType
from compiler.target import Target

ANCHORS = ("Conv", "Gemm", "MatMul", "MaxPool")
ACTIVATIONS = ("Relu", "Clip", "Gelu")


@dataclass(frozen=True, slots=True)
class FusionGroup:
    anchor: str                      # node name
    epilogue: tuple[str, ...]        # node names, in order; the last one's output is the group's
    kind: str = "epilogue"           # "epilogue": a contraction's or a reduction's tail;
                                     # "elementwise": a chain; "prologue": a reduction's head
    prologue: tuple[str, ...] = ()   # nodes computed inline where the anchor reads its input

    @property
    def last(self) -> str:
        """The node whose position the group's kernel call takes."""
        return (self.epilogue or (self.anchor,))[-1]


@dataclass(frozen=True)
class FusionPlan:
    groups: tuple[FusionGroup, ...] = ()

    def group_of(self, node: str) -> FusionGroup | None:
        for group in self.groups:
            if group.anchor == node:
                return group
        return None

    @property
    def fused_nodes(self) -> frozenset[str]:
        return frozenset(n for g in self.groups for n in g.epilogue + g.prologue)


def _sole_consumer(graph: Graph, value: str) -> Node | None:
    consumers = graph.consumers.get(value, ())
    if len(consumers) != 1 or value in graph.outputs:
        return None
    return consumers[0]


def _clip_is_constant(graph: Graph, node: Node) -> bool:
    return all(not name or name in graph.constants for name in node.inputs[1:])


def addend_as_anchor_shape(addend: TensorType, seen: TensorType, anchor: TensorType) -> TensorType | None:
    """An addend broadcast against `seen` (the anchor's output, perhaps through reshapes), as a
    type that broadcasts against the anchor's own output shape; None when no such view exists."""
    try:
        if broadcast_shapes(seen.shape, addend.shape) != seen.shape:
            return None
    except OpError:
        return None
    if seen.shape == anchor.shape:
        return addend
    if addend.numel() == anchor.numel():
        return addend.with_shape(anchor.shape)          # the same row-major bytes
    # A vector along the last axis (a bias), when the reshape kept that axis.
    trailing = [d for d in addend.shape if d != 1]
    if (anchor.rank and seen.rank and seen.shape[-1] == anchor.shape[-1]
            and addend.shape[-1:] == seen.shape[-1:] and trailing == list(addend.shape[-1:])):
        return addend.with_shape(tuple(addend.shape[-1:]))
    return None


def _addend_fits(graph: Graph, node: Node, value: str, anchor: Node) -> str | None:
    """The other operand of an Add that can ride in the epilogue, or None."""
    if len(node.inputs) != 2:
        return None
    other = node.inputs[1] if node.inputs[0] == value else node.inputs[0]
    if other == value or graph.type_of(other).dtype != graph.type_of(value).dtype:
        return None
    view = addend_as_anchor_shape(graph.type_of(other), graph.type_of(value), anchor.outputs[0].type)
    return None if view is None else other


def is_view(node: Node) -> bool:
    """A Reshape (or Flatten/Squeeze/Unsqueeze) inside a tail: the bytes stay where they are."""
    return node.op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def plan_epilogues(graph: Graph, target: Target) -> FusionPlan:
    if "contraction_epilogue" not in target.fusible:
        return FusionPlan()
    groups = []
    claimed: set[str] = set()     # a node joins at most one group
    by_name = {node.name: node for node in graph.nodes}
    for node in graph.nodes:
        if node.op not in ANCHORS or not graph.type_of(node.output_names[0]).dtype.is_float:
            continue
        value = node.output_names[0]
        epilogue: list[str] = []
        while True:
            consumer = _sole_consumer(graph, value)
            if consumer is None or consumer.name in claimed:
                break
            if consumer.op == "Add" and _addend_fits(graph, consumer, value, node):
                pass        # a bias, a residual: any number of them, before the activation
            elif is_view(consumer) and node.op in ("Gemm", "MatMul"):
                pass        # (B*S, N) -> (B, S, N) between a Linear and its bias/activation
            elif consumer.op in ("Relu", "Gelu") or (consumer.op == "Clip" and _clip_is_constant(graph, consumer)):
                pass
            else:
                break
            epilogue.append(consumer.name)
            value = consumer.output_names[0]
            if consumer.op in ACTIVATIONS:
                break
        while epilogue and is_view(by_name[epilogue[-1]]):
            epilogue.pop()          # a trailing reshape stays an alias of the group's output
        if epilogue:
            groups.append(FusionGroup(node.name, tuple(epilogue)))
            claimed.update(epilogue)
            claimed.add(node.name)
    if "reduction_prologue" in target.fusible:
        groups += _reduction_prologues(graph, claimed)
    if "reduction_epilogue" in target.fusible:
        groups += _reduction_epilogues(graph, claimed)
    if "elementwise" in target.fusible:
        groups += _elementwise_chains(graph, claimed)
    return FusionPlan(tuple(groups))


REDUCTIONS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")
NORMALISATIONS = ("Softmax", "LayerNormalization")
# Cheap ops only: a prologue is recomputed on every pass the reduction makes over its input.
PROLOGUE_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Relu", "Max", "Min", "Abs", "Identity"})


def _operands_fit(graph: Graph, node: Node, shape) -> bool:
    """Every input has `shape` or is one element (read at index 0)."""
    def one_element(name: str) -> bool:
        size = graph.type_of(name).numel()
        return size.is_static and size.coef == 1
    return all(graph.type_of(n).shape == shape or one_element(n) for n in node.inputs if n)


def _reduction_prologues(graph: Graph, claimed: set[str]) -> list[FusionGroup]:
    """A chain of cheap elementwise ops read only by a reduction or normalisation (a residual
    Add before a LayerNorm, a scaling before a Softmax) is computed where the reduction reads it."""
    groups = []
    for node in graph.nodes:
        if node.op not in REDUCTIONS + NORMALISATIONS or node.name in claimed:
            continue
        shape = graph.type_of(node.inputs[0]).shape
        chain: list[Node] = []
        head, value = node, node.inputs[0]
        while True:
            producer = graph.producers.get(value)
            consumer = _sole_consumer(graph, value)
            if (producer is None or producer.name in claimed or producer.op not in PROLOGUE_OPS
                    or consumer is None or consumer.name != head.name
                    or producer.outputs[0].type.shape != shape or not _operands_fit(graph, producer, shape)):
                break
            chain.append(producer)
            head = producer
            inner = [n for n in producer.inputs if n and n in graph.producers]
            if not inner:
                break
            value = inner[0]
        if chain:
            names = tuple(n.name for n in reversed(chain))
            groups.append(FusionGroup(node.name, (), "prologue", names))
            claimed.update(names)
            claimed.add(node.name)
    return groups


def _reduction_epilogues(graph: Graph, claimed: set[str]) -> list[FusionGroup]:
    """A chain of elementwise ops that alone consumes a reduction's result (a mean's division,
    a norm's square root) is applied to each reduced value before its one store."""
    groups = []
    for node in graph.nodes:
        if node.op not in REDUCTIONS or node.name in claimed:
            continue
        shape = node.outputs[0].type.shape
        chain = _forward_chain(graph, node, claimed, lambda c: _operands_fit(graph, c, shape))
        if chain:
            groups.append(FusionGroup(node.name, tuple(chain), "reduction"))
            claimed.update(chain)
            claimed.add(node.name)
    return groups


def _forward_chain(graph: Graph, node: Node, claimed: set[str], fits=lambda consumer: True) -> list[str]:
    """The run of unclaimed chainable ops after `node`, each the sole consumer of the one
    before, all of `node`'s output shape (and accepted by `fits`)."""
    shape = node.outputs[0].type.shape
    chain, value = [], node.output_names[0]
    while True:
        consumer = _sole_consumer(graph, value)
        if (consumer is None or consumer.name in claimed or consumer.op not in CHAINABLE
                or consumer.outputs[0].type.shape != shape or not fits(consumer)):
            return chain
        chain.append(consumer.name)
        value = consumer.output_names[0]


# Elementwise ops that chain into one loop: same output shape, every other operand broadcast.
CHAINABLE = frozenset({"Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Erf", "Reciprocal", "Sin", "Cos",
                       "Floor", "Ceil", "Neg", "Abs", "Sign", "Not", "IsNaN", "Identity", "Add", "Sub", "Mul",
                       "Div", "Pow", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual",
                       "GreaterOrEqual", "And", "Or", "Xor", "Where", "Clip", "Cast", "LeakyRelu", "Elu", "Gelu"})


def _elementwise_chains(graph: Graph, claimed: set[str]) -> list[FusionGroup]:
    """Maximal runs producer -> sole consumer of chainable ops with one output shape:
    GELU's Div -> Erf -> Add -> Mul -> Mul becomes one loop over the tensor."""
    groups = []
    for node in graph.nodes:
        if node.name in claimed or node.op not in CHAINABLE:
            continue
        chain = _forward_chain(graph, node, claimed)
        if chain:
            groups.append(FusionGroup(node.name, tuple(chain), "elementwise"))
            claimed.update(chain)
            claimed.add(node.name)
    return groups


@dataclass(frozen=True)
class PlanEpilogues:
    target: Target

    def __call__(self, graph: Graph) -> FusionPlan:
        return plan_epilogues(graph, self.target)
