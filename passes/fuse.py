"""fuse: group each contraction (Conv, Gemm, MatMul; MaxPool too) with the elementwise tail that consumes
it alone (one Add of a residual or bias, then ReLU/Clip), so the tail runs in the
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
from compiler.target import Target

ANCHORS = ("Conv", "Gemm", "MatMul", "MaxPool")
ACTIVATIONS = ("Relu", "Clip")


@dataclass(frozen=True, slots=True)
class FusionGroup:
    anchor: str                      # node name
    epilogue: tuple[str, ...]        # node names, in order; the last one's output is the group's
    kind: str = "epilogue"           # "epilogue": a contraction's tail; "elementwise": a chain


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
        return frozenset(n for g in self.groups for n in g.epilogue)


def _sole_consumer(graph: Graph, value: str) -> Node | None:
    consumers = graph.consumers.get(value, ())
    if len(consumers) != 1 or value in graph.outputs:
        return None
    return consumers[0]


def _clip_is_constant(graph: Graph, node: Node) -> bool:
    return all(not name or name in graph.constants for name in node.inputs[1:])


def _addend_fits(graph: Graph, node: Node, value: str) -> str | None:
    """The other operand of an Add that can ride in the epilogue, or None."""
    if len(node.inputs) != 2:
        return None
    other = node.inputs[1] if node.inputs[0] == value else node.inputs[0]
    if other == value:
        return None
    out_shape = graph.type_of(value).shape
    try:
        if broadcast_shapes(out_shape, graph.type_of(other).shape) != out_shape:
            return None
    except OpError:
        return None
    return other if graph.type_of(other).dtype == graph.type_of(value).dtype else None


def plan_epilogues(graph: Graph, target: Target) -> FusionPlan:
    if "contraction_epilogue" not in target.fusible:
        return FusionPlan()
    groups = []
    claimed: set[str] = set()     # a node joins at most one group
    for node in graph.nodes:
        if node.op not in ANCHORS or not graph.type_of(node.output_names[0]).dtype.is_float:
            continue
        value = node.output_names[0]
        epilogue: list[str] = []
        added = False
        while True:
            consumer = _sole_consumer(graph, value)
            if consumer is None or consumer.name in claimed:
                break
            if consumer.op == "Add" and not added and not epilogue and _addend_fits(graph, consumer, value):
                added = True
            elif consumer.op == "Relu" or (consumer.op == "Clip" and _clip_is_constant(graph, consumer)):
                pass
            else:
                break
            epilogue.append(consumer.name)
            value = consumer.output_names[0]
            if consumer.op in ACTIVATIONS:
                break
        if epilogue:
            groups.append(FusionGroup(node.name, tuple(epilogue)))
            claimed.update(epilogue)
            claimed.add(node.name)
    if "elementwise" in target.fusible:
        groups += _elementwise_chains(graph, claimed)
    return FusionPlan(tuple(groups))


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
        shape = node.outputs[0].type.shape
        chain, value = [], node.output_names[0]
        while True:
            consumer = _sole_consumer(graph, value)
            if (consumer is None or consumer.name in claimed or consumer.op not in CHAINABLE
                    or consumer.outputs[0].type.shape != shape):
                break
            chain.append(consumer.name)
            value = consumer.output_names[0]
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
