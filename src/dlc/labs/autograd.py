"""Autograd (EE-559 4.1-4.2): a tape-based engine on DAGs, checked against torch.autograd.

Each operation of :class:`dlc.scratch.Tensor` records its inputs and its local
backward; the recorded graph (the tape) is a DAG. The backward pass is written out here
(``topological_order``, ``backpropagate``): it visits the graph in reverse topological
order, hands each node's gradient to its inputs through the node's local backward, and
adds up the gradients that reach a node used several times. The lab builds the lecture's
small example, prints its tape and its gradients, differentiates a small network whose
hidden value feeds two branches both by this engine and by hand (the chain rule written
out, ``shared_example_by_hand``), then builds random DAGs (shared sub-expressions,
broadcasting, reductions, a matrix product) and differentiates each with both engines.

Check: every gradient (the lecture's example, the shared-value example by the engine and
by hand, and every random DAG) equals torch.autograd's to 1e-10 (relative, float64), and
the random graphs are DAGs, not trees (on average at least one node used twice).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from dlc.errors import UsageError
from dlc.exercise import Task
from dlc.labs import Result, lab, verdict
from dlc.progress import progress_bar
from dlc.scratch import Tensor, format_tape


@dataclass
class Config:
    dags: int = 200  # random DAGs differentiated by both engines and compared (at least 1)
    ops: int = 30  # operations per random DAG, after its 3 to 5 input leaves (at least 1)
    TINY = {"dags": 30}

    def __post_init__(self):
        for name in ("dags", "ops"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name} must be at least 1, got {getattr(self, name)}")


# -- the lecture's example -----------------------------------------------------------------
def example(lib: str = "scratch"):
    """a = sum(t^2) + sum(log u): returns (a, t, u); da/dt = 2t and da/du = 1/u."""
    t_val = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    u_val = torch.tensor([10.0, 20.0], dtype=torch.float64)
    if lib == "torch":
        t, u = t_val.clone().requires_grad_(), u_val.clone().requires_grad_()
    else:
        t, u = Tensor(t_val, requires_grad=True, name="t"), Tensor(u_val, requires_grad=True, name="u")
    a = (t**2).sum() + u.log().sum()
    return a, t, u


def shared_example(lib: str = "scratch", seed: int = 0):
    """A small network whose hidden value h feeds two branches: a DAG, not a tree."""
    g = torch.Generator().manual_seed(seed)
    values = [torch.randn(*s, dtype=torch.float64, generator=g) for s in ((5, 3), (3, 4), (4, 2))]
    names = ("x", "w1", "w2")
    if lib == "torch":
        x, w1, w2 = (v.clone().requires_grad_() for v in values)
    else:
        x, w1, w2 = (Tensor(v, requires_grad=True, name=n) for v, n in zip(values, names))
    h = (x @ w1).tanh()
    y = h @ w2 + h.sum(1, keepdim=True)  # h used twice
    loss = (y * y).mean()
    return loss, (x, w1, w2)


def shared_example_by_hand(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor):
    """``shared_example``'s forward and backward passes by hand, on plain torch tensors.

    Forward: h = tanh(x @ w1), y = h @ w2 + h.sum(1, keepdim=True), loss = mean(y * y).
    Backward: the chain rule from the loss down; h feeds two branches, so dloss/dh is the
    sum of what comes back through each. Returns (loss (0-d), dloss/dx, dloss/dw1,
    dloss/dw2), each gradient of the shape of its tensor.
    """
    ### BEGIN SOLUTION
    h = (x @ w1).tanh()
    y = h @ w2 + h.sum(1, keepdim=True)
    loss = (y * y).mean()
    dy = 2 * y / y.numel()
    dh = dy @ w2.t() + dy.sum(1, keepdim=True)  # the two branches' contributions, added
    ds = dh * (1 - h * h)  # through tanh
    return loss, ds @ w1.t(), x.t() @ ds, h.t() @ dy
    ### END SOLUTION


# -- the backward pass, written out (what Tensor.backward does) ------------------------------
def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor ``root`` depends on, each listed after all of its inputs, ``root`` last.

    A tensor's inputs are ``t.parents``; only those with ``requires_grad`` belong to the
    graph (the others are constants). A node reached by several paths is listed once. A
    depth-first search that lists a node once all its inputs are listed does it.
    """
    order: list[Tensor] = []
    ### BEGIN SOLUTION
    listed = set()
    stack = [(root, False)]
    while stack:  # depth-first, without recursion: a node goes in once its inputs are in
        node, inputs_done = stack.pop()
        if id(node) in listed:
            continue
        if inputs_done:
            listed.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((p, False) for p in reversed(node.parents) if p.requires_grad and id(p) not in listed)
    ### END SOLUTION
    return order


def local_backward(node: Tensor, grad: torch.Tensor) -> tuple:
    """The rule ``node``'s operation recorded: from d(root)/d(node) (``grad``, node's shape)
    to d(root)/d(input) for each of ``node.parents``, in order (None for an input that needs none)."""
    return node._backward(grad)


def backpropagate(root: Tensor) -> None:
    """Reverse-mode differentiation: for every leaf (``t.is_leaf``) of a scalar ``root``'s
    graph, add d(root)/d(leaf) to ``leaf.grad`` (set it where it is still None). Returns None.

    Start from d(root)/d(root) = 1 and walk ``topological_order(root)`` backwards: a node's
    gradient is complete when it is reached, because everything that uses it comes later
    in the order. Hand it to the node's inputs with ``local_backward``, adding up what
    reaches an input from several uses. Gradients are plain torch tensors, like ``t.data``.
    """
    grads = {id(root): torch.ones_like(root.data)}  # d(root)/d(node), by node, as it arrives
    ### BEGIN SOLUTION
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:  # nothing reached it
            continue
        if node.is_leaf:
            node.grad = g if node.grad is None else node.grad + g
            continue
        for parent, pg in zip(node.parents, local_backward(node, g)):
            if pg is not None and parent.requires_grad:
                grads[id(parent)] = grads[id(parent)] + pg if id(parent) in grads else pg
    ### END SOLUTION


# -- random DAGs -----------------------------------------------------------------------------
LEAF_SHAPES = [(4, 3), (1, 3), (4, 1), (3,), ()]


def _max_last(a):
    out = a.max(-1, keepdim=True)
    return getattr(out, "values", out)  # torch returns (values, indices)


UNARY = {
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "relu": lambda a: a.relu(),
    "square": lambda a: a * a,
    "softplus-ish": lambda a: (1 + a.exp()).log(),
    "scale": lambda a: 0.5 * a - 1.0,
    "sum rows": lambda a: a.sum(0, keepdim=True),
    "mean cols": lambda a: a.mean(-1, keepdim=True),
    "max cols": _max_last,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + b * b),
}


def random_dag(n_ops: int, seed: int) -> list[tuple]:
    """A recipe: leaves, then ``n_ops`` operations on earlier nodes (reused freely).

    Steps are ("leaf", shape, seed), (unary name, i), (binary name, i, j) or
    ("matmul", i, m) where node m is the 3 x 3 leaf; nodes are numbered in order.
    Values are followed as the recipe grows: an operation whose result would leave
    [-1e4, 1e4] (long chains of products do) is replaced by a tanh of its first input,
    so every recipe compares finite numbers.
    """
    rng = random.Random(seed)

    def leaf(shape, s):
        return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(s))

    recipe: list[tuple] = [("leaf", (3, 3), seed)]  # node 0: the matrix of every matmul
    values = [leaf((3, 3), seed)]
    for k in range(rng.randint(2, 4)):
        shape = rng.choice(LEAF_SHAPES)
        recipe.append(("leaf", shape, seed * 1000 + k + 1))
        values.append(leaf(shape, seed * 1000 + k + 1))

    def pick():  # favour recent nodes, but reach back often: that is what makes a DAG
        n = len(values)
        return rng.randrange(1, n) if rng.random() < 0.5 else max(1, n - 1 - rng.randrange(3))

    for _ in range(n_ops):
        i = pick()
        kind = rng.random()
        if kind < 0.15 and values[i].dim() and values[i].shape[-1] == 3:
            step = ("matmul", i, 0)
        elif kind < 0.5:
            name = rng.choice(list(UNARY))
            if name in ("sum rows", "mean cols", "max cols") and values[i].dim() != 2:
                name = "tanh"
            step = (name, i)
        else:
            step = (rng.choice(list(BINARY)), i, pick())
        value = _apply(step, values)
        if not (torch.isfinite(value).all() and value.abs().max() <= 1e4):
            step = ("tanh", i)
            value = _apply(step, values)
        recipe.append(step)
        values.append(value)
    return recipe


def _apply(step: tuple, nodes: list):
    """One non-leaf step of a recipe on already built nodes (scratch or torch)."""
    name, args = step[0], [nodes[i] for i in step[1:]]
    if name == "matmul":
        return args[0] @ args[1]
    if name in UNARY:
        return UNARY[name](args[0])
    return BINARY[name](*args)


def evaluate(recipe: list[tuple], lib: str = "scratch"):
    """Build the recipe's graph with scratch Tensors or torch tensors.

    Returns (loss, leaves): the loss sums every node that nothing else uses.
    """
    nodes, leaves, used = [], [], set()
    for step in recipe:
        name = step[0]
        if name == "leaf":
            g = torch.Generator().manual_seed(step[2])
            value = torch.randn(step[1], dtype=torch.float64, generator=g)
            leaf = (
                value.requires_grad_()
                if lib == "torch"
                else Tensor(value, requires_grad=True, name=f"leaf{len(leaves)}")
            )
            leaves.append(leaf)
            nodes.append(leaf)
            continue
        used.update(step[1:])
        nodes.append(_apply(step, nodes))
    sinks = [n for k, n in enumerate(nodes) if k not in used]
    loss = sinks[0].sum()
    for n in sinks[1:]:
        loss = loss + n.sum()
    return loss, leaves


def compare_with_torch(recipe: list[tuple]) -> float:
    """Largest relative error of the scratch gradients (and loss) against torch.autograd."""
    ours, our_leaves = evaluate(recipe, "scratch")
    ref, ref_leaves = evaluate(recipe, "torch")
    backpropagate(ours)
    ref.backward()
    errors = [abs(ours.item() - ref.item()) / max(abs(ref.item()), 1e-300)]
    for a, b in zip(our_leaves, ref_leaves):
        if b.grad is None:  # a leaf that does not reach the loss
            errors.append(0.0 if a.grad is None else float("inf"))
            continue
        scale = b.grad.abs().max().item()
        diff = (a.grad - b.grad).abs().max().item()
        errors.append(diff / scale if scale > 0 else diff)
    return max(errors)


def reuse_count(recipe: list[tuple]) -> int:
    """How many nodes are consumed more than once (shared sub-expressions)."""
    uses: dict[int, int] = {}
    for step in recipe:
        if step[0] != "leaf":
            for i in step[1:]:
                uses[i] = uses.get(i, 0) + 1
    return sum(1 for c in uses.values() if c > 1)


# -- figures ------------------------------------------------------------------------------
def draw_tape(root: Tensor, title: str = ""):
    """The recorded DAG, inputs on the left, the output on the right."""
    import matplotlib.pyplot as plt

    order = root.tape()
    depth: dict[int, int] = {}
    for t in order:
        depth[id(t)] = 1 + max((depth[id(p)] for p in t.parents if id(p) in depth), default=-1)
    first_use: dict[int, int] = {}
    for t in order:  # draw each input in the column just before its first use
        for p in t.parents:
            if p.is_leaf and id(p) in depth:
                first_use[id(p)] = min(first_use.get(id(p), depth[id(t)]), depth[id(t)])
    depth.update({k: d - 1 for k, d in first_use.items()})
    columns: dict[int, list] = {}
    for t in order:
        columns.setdefault(depth[id(t)], []).append(t)
    pos = {}
    for d, ts in columns.items():
        for k, t in enumerate(ts):
            pos[id(t)] = (d, k - (len(ts) - 1) / 2)
    tallest = max(map(len, columns.values()))
    fig, ax = plt.subplots(figsize=(1.8 * (len(columns) + 1), 1.2 * (tallest + 1) + 0.6))
    for t in order:
        for p in t.parents:
            if id(p) in pos:
                ax.annotate(
                    "",
                    xy=pos[id(t)],
                    xytext=pos[id(p)],
                    arrowprops=dict(arrowstyle="->", color="0.4", shrinkA=18, shrinkB=18),
                )
    for t in order:
        label = t.name if t.is_leaf and t.name else t.op
        label += "\n" + str(tuple(t.shape))
        ax.text(
            *pos[id(t)],
            label,
            ha="center",
            va="center",
            fontsize=8,
            bbox=dict(boxstyle="round", fc="#dbe9f6" if t.is_leaf else "#fde3c8", ec="0.3"),
        )
    ax.set_xlim(-0.7, len(columns) - 0.3)
    ys = [y for _, y in pos.values()]
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[
            Patch(fc="#dbe9f6", ec="0.3", label="input (a leaf: name, shape)"),
            Patch(fc="#fde3c8", ec="0.3", label="recorded operation (output shape)"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    ax.set_title(title or "the recorded tape")
    return fig


def error_figure(errors: list[float], tolerance: float):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.semilogy(
        range(1, len(errors) + 1),
        [max(e, 1e-18) for e in errors],
        "o",
        ms=3,
        label="max relative error of a DAG (0 drawn at 1e-18)",
    )
    ax.axhline(tolerance, color="r", linestyle="--", label=f"tolerance {tolerance:.0e}")
    ax.axhline(torch.finfo(torch.float64).eps, color="k", linestyle=":", label="float64 machine epsilon")
    ax.set_xlabel("random DAG")
    ax.set_ylabel("relative error vs torch.autograd")
    ax.set_title(f"gradients of {len(errors)} random DAGs: ours vs torch.autograd (float64)", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    return fig


TOLERANCE = 1e-10


@lab(
    "autograd",
    source="EE-559 4.1-4.2",
    summary="A tape-based autograd on DAGs (dlc.scratch), checked against torch.autograd",
    config=Config,
)
def run(cfg: Config, ctx) -> Result:
    # 1. The lecture's example: build it, show the tape, differentiate.
    a, t, u = example()
    ctx.print("a = (t ** 2).sum() + u.log().sum(), recorded as:")
    ctx.print(format_tape(a))
    backpropagate(a)
    ctx.print(f"da/dt = {t.grad.tolist()}  (2t)     da/du = {u.grad.tolist()}  (1/u)")
    example_ok = torch.allclose(t.grad, 2 * t.data) and torch.allclose(u.grad, 1 / u.data)

    # 2. A DAG with a shared hidden value, against torch.autograd.
    loss, leaves = shared_example(seed=max(ctx.seed, 0))
    ref_loss, ref_leaves = shared_example("torch", seed=max(ctx.seed, 0))
    ctx.print("\nh = tanh(x @ w1); y = h @ w2 + h.sum(1); loss = mean(y * y):")
    ctx.print(format_tape(loss))
    backpropagate(loss)
    ref_loss.backward()
    shared_err = max(float((p.grad - q.grad).abs().max() / q.grad.abs().max()) for p, q in zip(leaves, ref_leaves))
    ctx.print(f"gradients vs torch.autograd: max relative error {shared_err:.1e}")
    by_hand = shared_example_by_hand(*(q.detach() for q in ref_leaves))
    hand_err = max(
        [abs(float(by_hand[0]) - ref_loss.item()) / abs(ref_loss.item())]
        + [float((p - q.grad).abs().max() / q.grad.abs().max()) for p, q in zip(by_hand[1:], ref_leaves)]
    )
    ctx.print(f"the same by hand (the chain rule written out): max relative error {hand_err:.1e}")
    ctx.save_figure(draw_tape(loss, "the tape of the shared-hidden-value example"), "tape")

    # 3. Random DAGs.
    errors, reused = [], 0
    with progress_bar(ctx, cfg.dags, desc="random DAGs vs torch.autograd", unit="DAG") as bar:
        for k in range(cfg.dags):
            recipe = random_dag(cfg.ops, seed=ctx.seed * 100_003 + k if ctx.seed >= 0 else k)
            err = compare_with_torch(recipe)
            errors.append(err)
            reused += reuse_count(recipe)
            ctx.log(dag=k, ops=cfg.ops, shared_nodes=reuse_count(recipe), max_rel_error=err)
            bar.update(1)
    worst = max(errors + [shared_err, hand_err])
    ctx.save_figure(error_figure(errors, TOLERANCE), "errors")
    passed = worst <= TOLERANCE and example_ok
    return Result(
        f"gradients of {cfg.dags} random DAGs ({cfg.ops} ops, {reused / cfg.dags:.1f} shared "
        f"nodes each on average) equal torch.autograd's: max relative error {worst:.1e} "
        f"({'<=' if passed else 'NOT <='} {TOLERANCE:.0e})",
        metrics={
            "max_rel_error": worst,
            "dags": cfg.dags,
            "ops": cfg.ops,
            "mean_shared_nodes": reused / cfg.dags,
            "example_ok": example_ok,
            "shared_example_rel_error": shared_err,
            "by_hand_rel_error": hand_err,
            "passed": passed,
        },
    )


def check(result: Result) -> list:
    """The lecture's point: a tape walked backwards gives autograd's gradients, on DAGs."""
    m = result.metrics
    return [
        verdict("the lecture's example: da/dt = 2t and da/du = 1/u", float(m["example_ok"]), "==", 1),
        verdict("max relative error vs torch.autograd (every DAG, float64)", m["max_rel_error"], "<=", TOLERANCE),
        verdict(
            "the shared-value example by hand vs torch.autograd (max relative error)",
            m["by_hand_rel_error"],
            "<=",
            TOLERANCE,
        ),
        verdict("shared nodes per random DAG, on average", m["mean_shared_nodes"], ">=", 1),
    ]


# -- exercises (`dlc exercise autograd`, then `dlc check autograd`) ----------------------


def _graph(case, lib: str = "scratch"):
    """(root, leaves) of a graded case: "example", "shared", or a random DAG's recipe."""
    if case == "example":
        a, t, u = example(lib)
        return a, [t, u]
    if case == "shared":
        loss, leaves = shared_example(lib, seed=1)
        return loss, list(leaves)
    return evaluate(case, lib)


def _graph_cases(g: torch.Generator) -> list[tuple]:
    seeds = torch.randint(10_000, (2,), generator=g).tolist()
    return [("example",), ("shared",), (random_dag(12, seeds[0]),), (random_dag(40, seeds[1]),)]


def _order_summary(fn, case) -> dict:
    """What a topological order must be, as checkable facts (orders may differ and be right)."""
    root, _ = _graph(case)
    order = list(fn(root))
    at = {id(t): k for k, t in enumerate(order)}
    return {
        "tensors listed": len(order),
        "each of the graph's tensors once": len(at) == len(order) and set(at) == {id(t) for t in root.tape()},
        "each after its inputs": all(
            id(p) in at and at[id(p)] < at[id(t)] for t in order for p in t.parents if p.requires_grad
        ),
        "root last": bool(order) and order[-1] is root,
    }


def _backpropagated(fn, case) -> list:
    root, leaves = _graph(case)
    fn(root)
    return [leaf.grad for leaf in leaves]


def _torch_gradients(case) -> list:
    root, leaves = _graph(case, "torch")
    root.backward()
    return [leaf.grad for leaf in leaves]


def _hand_cases(g: torch.Generator) -> list[tuple]:
    shapes = [(5, 3, 4, 2), (1, 2, 6, 1), (8, 5, 5, 3)]
    return [
        tuple(torch.randn(a, b, generator=g, dtype=torch.float64) for a, b in ((n, d), (d, h), (h, c)))
        for n, d, h, c in shapes
    ]


def _hand_autograd(x, w1, w2) -> tuple:
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, w1, w2)]
    h = (leaves[0] @ leaves[1]).tanh()
    y = h @ leaves[2] + h.sum(1, keepdim=True)
    return torch.autograd.grad((y * y).mean(), leaves)


TASKS = [
    Task(
        "shared_example_by_hand",
        hint="go backwards: dy = 2y / y.numel(); dh = dy @ w2^T plus dy summed over its row (h's second use); "
        "through tanh multiply by 1 - h^2; then the matrix products' rules give dx, dw1 and dw2",
        cases=_hand_cases,
        grad=lambda fn, x, w1, w2: fn(x, w1, w2)[1:],
        autograd=_hand_autograd,
    ),
    Task(
        "topological_order",
        hint="depth-first from root: list a node after all of its parents (those that require a gradient) "
        "are listed, each node once",
        cases=_graph_cases,
        call=_order_summary,
    ),
    Task(
        "backpropagate",
        hint="start with gradient 1 at root; for each node of reversed(topological_order(root)), leaves keep "
        "(add to .grad) what arrived, others pass it to their parents through local_backward, summed per parent",
        cases=_graph_cases,
        call=_backpropagated,
        grad=_backpropagated,
        autograd=_torch_gradients,
    ),
]


if __name__ == "__main__":  # `python this_file.py --tiny` runs this copy of the lab
    from dlc.cli import run_file

    raise SystemExit(run_file(__file__))
