"""heft's exported ONNX student as an Orion network (orion-fhe, MIT, on Lattigo, Apache-2.0).

Reads the graph `heft export --onnx` writes (Conv, Gemm, AveragePool, Flatten, residual Add and
each activation c2*x^2 + c1*x + c0 as five Mul/Add nodes with per-tensor or per-channel
coefficients) and builds an `orion.nn` module that evaluates the same function with one CKKS
level per activation, by exact algebra:

    c2*x^2 + c1*x + c0 = c2 * (x*(x + k) + c0/c2),   k = c1/c2   (per channel, every c2 != 0)

* x + k and + c0/c2 are additions of a plaintext: no level;
* x*(x + k) is one ciphertext product: one level;
* the factor c2 goes into the weights of each Conv/Gemm that reads the activation (through
  AveragePool and Flatten, which are linear per channel); on an edge to anything else (a
  residual Add, the output) it is a plaintext product on that edge alone: a level there, but a
  residual branch runs beside a deeper one, so the network's depth does not grow.
A channel with c2 = 0 makes the whole layer fall back to c2*x^2 + (c1*x + c0) evaluated
directly (two levels). A linearised activation (c0 + c1*x) never comes as these five nodes:
heft folds it into the Conv/Gemm before it (nothing left to read) or, where it follows no such
layer (after a residual Add), writes one Mul and one Add, which this reader does not take.

Orion has no Concat: heft's export writes a fire module's two expand branches as one 3x3
convolution (the 1x1 kernels zero-padded) and one activation with per-channel coefficients
(he/fire.rs); a Concat it keeps (one expand activation linearised, the other not) is refused.

Orion evaluates AveragePool as a convolution with 1/k^2 weights, one level each, which
`heft he-report` counts as free; the runner reports both counts.
"""
import numpy as np
import onnx
import torch
from onnx import numpy_helper

import orion.nn as on
from orion.core import packing
from orion.nn.module import timer


class ChannelAffine(on.Module):
    """x*scale + shift with per-channel (or scalar) scale/shift; the scale costs a level, the
    shift none. Plaintexts are encoded at the ciphertext's level and scale when first used, so
    the addition is exact and the product keeps the scale after its rescale."""

    def __init__(self, scale=None, shift=None):
        super().__init__()
        self.scale_c = None if scale is None else torch.as_tensor(scale, dtype=torch.float64)
        self.shift_c = None if shift is None else torch.as_tensor(shift, dtype=torch.float64)
        self.set_depth(0 if scale is None else 1)
        self.cache = {}

    def per_channel(self, c, shape):
        """A [C] (or scalar) constant broadcast to the clear tensor `shape` ([N,C,H,W] or [N,F])."""
        c = c.reshape(-1).to(torch.float32)
        if len(shape) == 4:
            n, ch, h, w = shape
            return (c if c.numel() == ch else c.expand(ch)).view(1, ch, 1, 1).expand(n, ch, h, w)
        n, f = shape
        return (c if c.numel() == f else c.expand(f)).view(1, f).expand(n, f)

    def packed(self, c):
        """The constant in Orion's slot layout for this layer's input (zeros in unused slots)."""
        full = self.per_channel(c, tuple(self.input_shape))
        if len(self.input_shape) == 4:
            on_c, on_h, on_w = self.fhe_input_shape[1:]
            out = torch.zeros(on_c, on_h, on_w)
            mpx = packing.multiplex(full[:1].clone(), self.input_gap).squeeze(0)
            out[: mpx.shape[0], : mpx.shape[1], : mpx.shape[2]] = mpx
            return out.flatten().repeat(self.input_shape[0])
        return full.flatten()

    def plaintext(self, which, level, scale):
        key = (which, level, scale)
        if key not in self.cache:
            values = self.packed(self.scale_c if which == "scale" else self.shift_c)
            self.cache[key] = self.scheme.encoder.encode(values, level=level, scale=scale)
        return self.cache[key]

    @timer  # Orion's wrapper of every forward (it also keeps torch's compiler out)
    def forward(self, x):
        if not self.he_mode:
            if self.scale_c is not None:
                x = x * self.per_channel(self.scale_c, x.shape)
            if self.shift_c is not None:
                x = x + self.per_channel(self.shift_c, x.shape)
            return x
        if self.scale_c is not None:
            level = x.level()
            x = x * self.plaintext("scale", level, self.scheme.encoder.get_moduli_chain()[level])
        if self.shift_c is not None:
            x = x + self.plaintext("shift", x.level(), x.scale())
        return x


# ----------------------------------------------------------------------------- ONNX reading


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def read_ops(model):
    """The graph as a list of ops (dicts with kind, inputs, output, ...), activations gathered."""
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in g.initializer}
    users = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    taken, ops = set(), []
    for n in g.node:
        if id(n) in taken:
            continue
        if n.op_type == "Mul" and n.input[0] == n.input[1] and n.input[0] not in inits:
            ops.append(read_poly(n, users, inits, taken))
            continue
        a = attrs(n)
        if n.op_type == "Conv":
            if a.get("group", 1) != 1 or len(set(a["strides"])) != 1 or len(set(a["pads"])) != 1:
                raise ValueError(f"{n.name}: only square, ungrouped convolutions with equal padding")
            ops.append(dict(kind="conv", inputs=[n.input[0]], output=n.output[0], w=inits[n.input[1]],
                            b=inits[n.input[2]], stride=a["strides"][0], pad=a["pads"][0]))
        elif n.op_type == "Gemm":
            if a.get("transB", 0) != 1 or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                raise ValueError(f"{n.name}: only Gemm with transB=1, alpha=beta=1")
            ops.append(dict(kind="gemm", inputs=[n.input[0]], output=n.output[0], w=inits[n.input[1]], b=inits[n.input[2]]))
        elif n.op_type == "AveragePool":
            if len(set(a["kernel_shape"])) != 1 or len(set(a["strides"])) != 1 or len(set(a.get("pads", [0]))) != 1:
                raise ValueError(f"{n.name}: only square average pooling")
            ops.append(dict(kind="avgpool", inputs=[n.input[0]], output=n.output[0], k=a["kernel_shape"][0],
                            stride=a["strides"][0], pad=a.get("pads", [0])[0], ceil=a.get("ceil_mode", 0)))
        elif n.op_type == "Flatten":
            ops.append(dict(kind="flatten", inputs=[n.input[0]], output=n.output[0]))
        elif n.op_type == "Add" and not any(i in inits for i in n.input):
            ops.append(dict(kind="add", inputs=list(n.input), output=n.output[0]))
        elif n.op_type == "Concat":
            raise ValueError(f"{n.name}: Orion has no Concat. heft's export merges a fire module's branches into one "
                             "convolution; it keeps a Concat only where one expand activation is linearised and the "
                             "other is not: linearise both or neither")
        else:
            raise ValueError(f"operator {n.op_type} ({n.name}) is not part of heft's export")
    return ops, g.input[0].name, g.output[0].name


def read_poly(sq, users, inits, taken):
    """The five nodes of c2*x^2 + c1*x + c0 that start at sq = Mul(x, x)."""
    x = sq.input[0]

    def const_mul(t):
        for n in users.get(t, []):
            if n.op_type == "Mul" and n is not sq:
                other = [i for i in n.input if i != t]
                if len(other) == 1 and other[0] in inits:
                    return n, inits[other[0]]
        raise ValueError(f"{sq.name}: activation pattern not recognised at {t}")

    m2, c2 = const_mul(sq.output[0])
    m1, c1 = const_mul(x)
    add1 = next(n for n in users[m2.output[0]] if n.op_type == "Add")
    add0 = users[add1.output[0]][0]
    c0 = inits[[i for i in add0.input if i != add1.output[0]][0]]
    taken.update(id(n) for n in (sq, m2, m1, add1, add0))
    return dict(kind="poly", inputs=[x], output=add0.output[0], c=(c0.reshape(-1), c1.reshape(-1), c2.reshape(-1)), name=sq.name)


# ----------------------------------------------------------------------------- lowering


def users_of(ops, t):
    return [o for o in ops if t in o["inputs"]]


def fold_targets(ops, r):
    """The Conv/Gemm ops that reader r leads to through AveragePool/Flatten (all their readers),
    or None when some path ends elsewhere (a residual Add, the network's output)."""
    if r["kind"] in ("conv", "gemm"):
        return [r]
    readers = users_of(ops, r["output"]) if r["kind"] in ("avgpool", "flatten") else []
    found = [fold_targets(ops, u) for u in readers]
    if not readers or any(f is None for f in found):
        return None
    return [t for f in found for t in f]


def fold_into(ops, r, s):
    """Multiply the input side of the weights of every Conv/Gemm that reader r leads to by the
    per-channel factor s. False (nothing changed) when r does not lead only to such layers."""
    targets = fold_targets(ops, r)
    for t in targets or []:
        if t["kind"] == "conv":
            t["w"] = t["w"] * s.reshape(1, -1, 1, 1)
        else:
            per = t["w"].shape[1] // s.size  # features per channel after Flatten
            t["w"] = t["w"] * np.repeat(s, per).reshape(1, -1)
    return targets is not None


def lower(ops, output):
    """heft's ops → Orion steps (kind, inputs, output, params), one level per activation where
    the algebra allows. The factor c2 goes to each reader of the activation separately: folded
    into a Conv/Gemm, else a plaintext product on that edge only (a residual branch runs beside
    a deeper one, so this costs no depth there). Returns the steps and the number of such
    products."""
    ops = [dict(o) for o in ops]
    out, products = [], 0
    for o in ops:
        if o["kind"] != "poly":
            out.append(o)
            continue
        c0, c1, c2 = o["c"]
        x, y, name = o["inputs"][0], o["output"], o["name"]
        if np.all(c2 != 0):
            out.append(dict(kind="affine", inputs=[x], output=f"{name}/x+k", shift=c1 / c2))
            out.append(dict(kind="mult", inputs=[x, f"{name}/x+k"], output=f"{name}/z"))
            shifted = f"{name}/z+c0/c2" if np.any(c0 != 0) else f"{name}/z"
            if np.any(c0 != 0):
                out.append(dict(kind="affine", inputs=[f"{name}/z"], output=shifted, shift=c0 / c2))
            if y == output:
                out.append(dict(kind="affine", inputs=[shifted], output=y, scale=c2))
                products += 1
            for i, r in enumerate(users_of(ops, y)):
                edge = shifted
                if not fold_into(ops, r, c2):
                    edge = f"{name}/c2*{i}"
                    out.append(dict(kind="affine", inputs=[shifted], output=edge, scale=c2))
                    products += 1
                r["inputs"] = [edge if t == y else t for t in r["inputs"]]
        else:
            out.append(dict(kind="mult", inputs=[x, x], output=f"{name}/x2"))
            out.append(dict(kind="affine", inputs=[f"{name}/x2"], output=f"{name}/c2x2", scale=c2))
            out.append(dict(kind="affine", inputs=[x], output=f"{name}/c1x+c0", scale=c1, shift=c0))
            out.append(dict(kind="add", inputs=[f"{name}/c2x2", f"{name}/c1x+c0"], output=y))
            products += 1
    return out, products


class OrionNet(on.Module):
    """The lowered steps as Orion modules, run in order on a dict of named tensors."""

    def __init__(self, steps, input_name, output_name):
        super().__init__()
        self.steps = [(s["inputs"], s["output"]) for s in steps]
        self.input_name, self.output_name = input_name, output_name
        self.layers = torch.nn.ModuleList(make_module(s) for s in steps)

    def forward(self, x):
        env = {self.input_name: x}
        for (inputs, output), layer in zip(self.steps, self.layers):
            env[output] = layer(*[env[i] for i in inputs])
        return env[self.output_name]


def make_module(s):
    k = s["kind"]
    if k == "conv":
        co, ci, kh, _ = s["w"].shape
        m = on.Conv2d(ci, co, kh, stride=s["stride"], padding=s["pad"], bias=True)
    elif k == "gemm":
        m = on.Linear(s["w"].shape[1], s["w"].shape[0], bias=True)
    elif k == "avgpool":
        return on.AvgPool2d(s["k"], stride=s["stride"], padding=s["pad"])
    elif k == "flatten":
        return on.Flatten()
    elif k == "add":
        return on.Add()
    elif k == "mult":
        return on.Mult()
    elif k == "affine":
        return ChannelAffine(s.get("scale"), s.get("shift"))
    else:
        raise ValueError(k)
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(s["w"], dtype=torch.float32))
        m.bias.copy_(torch.as_tensor(s["b"], dtype=torch.float32))
    return m


def split_convs(ops, parts, min_out=64):
    """Each convolution with at least min_out output channels as `parts` convolutions, each
    keeping a contiguous group of output channels (the others' kernels and biases zero),
    summed with Adds (no level). Same function; Orion then encodes `parts` smaller linear
    transforms, one at a time, instead of one that may not fit in memory. (Orion's bootstrap
    placement fails on forks of more than two branches, so the runner allows parts = 2 only.)"""
    out = []
    for o in ops:
        co = o["w"].shape[0] if o["kind"] == "conv" else 0
        if parts < 2 or co < min_out:
            out.append(o)
            continue
        names = []
        for g, chans in enumerate(np.array_split(np.arange(co), parts)):
            keep = np.zeros(co)
            keep[chans] = 1
            names.append(f"{o['output']}/part{g}")
            out.append(dict(o, output=names[-1], w=o["w"] * keep.reshape(-1, 1, 1, 1), b=o["b"] * keep))
        acc = names[0]
        for g, n in enumerate(names[1:], 1):
            acc_next = o["output"] if g == len(names) - 1 else f"{o['output']}/sum{g}"
            out.append(dict(kind="add", inputs=[acc, n], output=acc_next))
            acc = acc_next
    return out


def load(path, split=1):
    """(Orion network, number of plaintext products for c2 that could not be folded) for
    heft's ONNX at path; `split` > 1 splits large convolutions (split_convs)."""
    ops, inp, outp = read_ops(onnx.load(path))
    ops = split_convs(ops, split)
    for o in ops:
        if o["kind"] == "avgpool" and o["ceil"]:
            o["ceil"] = 0  # checked against the plaintext logits before anything is encrypted
    steps, products = lower(ops, outp)
    net = OrionNet(steps, inp, outp)
    net.eval()
    return net, products
