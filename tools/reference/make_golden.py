"""Golden files for heft's Rust tests, computed with PyTorch (CPU).

Writes to data/reference/ (see data/reference/README.md):
  kernels.safetensors          per-op cases `<case>/<tensor>`: conv2d, linear, max/avg pooling,
                               relu, quad, blend, batchnorm, cross-entropy, distillation, Adam,
                               AdamW, SGD. Inputs are drawn in float32 (seed 0); everything else
                               is computed in float64 from those float32 values, stored float32.
  <arch>_<teacher|student>.safetensors
                               a whole model (heft_models.py, float32, seed 1): initial weights,
                               input, logits, loss, gradients, 3 Adam steps' losses and
                               the parameters before steps 2 and 3 (list: MODELS).
Also tests/data/scaled_backward.safetensors: one model's gradients with the backward scaled at one
inner layer (SCALED), a fault for tests/golden.rs to locate.

Every file's `__metadata__` maps each case name to a JSON string of its parameters (model files:
one key per config field) plus `torch_version` and `command`. Deterministic; run from the repo
root:  /tmp/tv/bin/python tools/reference/make_golden.py
"""
import copy
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heft_models  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "data", "reference")
COMMAND = "python " + os.path.relpath(os.path.abspath(__file__), ROOT)


class Golden:
    """Collects `<case>/<tensor>` float32 tensors and per-case JSON metadata for one file."""

    def __init__(self):
        self.tensors, self.meta = {}, {}

    def case(self, name, params=None, **tensors):
        assert name not in self.meta, name
        self.meta[name] = json.dumps(params or {})
        for k, v in tensors.items():
            self.tensors[f"{name}/{k}"] = v.detach().to(torch.float32).contiguous()

    def save(self, fname, meta=None):
        meta = dict(self.meta if meta is None else meta, torch_version=torch.__version__, command=COMMAND)
        blob = save(self.tensors, metadata=meta)
        # safetensors writes __metadata__ in hash order: sort it so the bytes are reproducible
        n = struct.unpack("<Q", blob[:8])[0]
        header = json.loads(blob[8:8 + n])
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(os.path.join(OUT, fname), "wb") as f:  # OUT is ignored when fname is absolute
            f.write(struct.pack("<Q", len(h)) + h + blob[8 + n:])


def randn(*shape, scale=1.0, shift=0.0):
    """float32 draw (the stored values), returned as float64 for the computation."""
    return (torch.randn(*shape) * scale + shift).to(torch.float32).double()


def distinct(*shape):
    """randn without ties (max pooling's argmax must be unique)."""
    x = randn(*shape)
    assert x.unique().numel() == x.numel()
    return x


def grads(out, inputs, dy=None):
    """d(out)/d(inputs) with upstream dy (None: a scalar output, upstream 1)."""
    return torch.autograd.grad(out, inputs, grad_outputs=dy)


def req(*ts):
    return [t.clone().requires_grad_(True) for t in ts]


def kernels():
    torch.manual_seed(0)
    g = Golden()

    for name, xs, ws, stride, pad in [
        ("conv2d.k3s1p1", (2, 3, 9, 9), (4, 3, 3, 3), 1, 1),
        ("conv2d.k5s2p2", (1, 2, 11, 11), (3, 2, 5, 5), 2, 2),
        ("conv2d.k11s4p5", (2, 3, 23, 23), (5, 3, 11, 11), 4, 5),
        ("conv2d.k1s1p0", (2, 5, 6, 7), (4, 5, 1, 1), 1, 0),
    ]:
        x, w, b = req(randn(*xs), randn(*ws), randn(ws[0]))
        y = F.conv2d(x, w, b, stride=stride, padding=pad)
        dy = randn(*y.shape)
        dx, dw, db = grads(y, (x, w, b), dy)
        g.case(name, {"stride": stride, "pad": pad}, x=x, w=w, b=b, y=y, dy=dy, dx=dx, dw=dw, db=db)

    x, w, b = req(randn(3, 10), randn(7, 10), randn(7))
    y = F.linear(x, w, b)
    dy = randn(*y.shape)
    dx, dw, db = grads(y, (x, w, b), dy)
    g.case("linear.a", {}, x=x, w=w, b=b, y=y, dy=dy, dx=dx, dw=dw, db=db)

    windows = [("k3s2", (2, 3, 9, 9), 3, 2, 0, False), ("k3s2ceil", (1, 2, 8, 8), 3, 2, 0, True),
               ("k2s2p1", (1, 2, 6, 6), 2, 2, 1, False)]
    for kind, pool in [("maxpool", F.max_pool2d), ("avgpool", F.avg_pool2d)]:
        for suffix, xs, k, s, p, ceil in windows:
            (x,) = req(distinct(*xs) if kind == "maxpool" else randn(*xs))
            y = pool(x, k, s, p, ceil_mode=ceil)  # avg: count_include_pad=True (default)
            dy = randn(*y.shape)
            (dx,) = grads(y, (x,), dy)
            g.case(f"{kind}.{suffix}", {"kernel": k, "stride": s, "pad": p, "ceil": ceil}, x=x, y=y, dy=dy, dx=dx)
    for name, xs, o in [("avgpool.adaptive6", (2, 3, 13, 13), 6), ("avgpool.global", (2, 4, 5, 5), 1)]:
        (x,) = req(randn(*xs))
        y = F.adaptive_avg_pool2d(x, o)
        dy = randn(*y.shape)
        (dx,) = grads(y, (x,), dy)
        g.case(name, {"adaptive": [o, o]}, x=x, y=y, dy=dy, dx=dx)

    (x,) = req(randn(4, 50, scale=2.0))
    y = F.relu(x)
    dy = randn(*y.shape)
    (dx,) = grads(y, (x,), dy)
    g.case("relu.a", {}, x=x, y=y, dy=dy, dx=dx)

    for name, coef, r in [("quad.a", [0.1, 0.5, 0.25], 1.0), ("blend.r03", [0.2, -0.3, 0.7], 0.3)]:
        x, c = req(randn(3, 40, scale=2.0), torch.tensor(coef, dtype=torch.float32).double())
        poly = c[0] + c[1] * x + c[2] * x * x
        y = poly if r == 1.0 else r * poly + (1.0 - r) * F.relu(x)
        dy = randn(*y.shape)
        dx, dc = grads(y, (x, c), dy)
        g.case(name, {"ratio": r}, x=x, coef=c, y=y, dy=dy, dx=dx, dcoef=dc)

    eps, mom = 1e-5, 0.1
    x, w, b = req(randn(4, 3, 5, 5, scale=3.0, shift=1.0), randn(3), randn(3))
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=mom, eps=eps)  # updates rm, rv
    dy = randn(*y.shape)
    dx, dw, db = grads(y, (x, w, b), dy)
    g.case("batchnorm.train", {"eps": eps, "momentum": mom}, x=x, weight=w, bias=b, y=y, dy=dy, dx=dx,
           dweight=dw, dbias=db, running_mean=rm, running_var=rv)
    x, w, b, rm = randn(4, 3, 5, 5, scale=3.0, shift=1.0), randn(3), randn(3), randn(3)
    rv = (torch.rand(3) + 0.5).to(torch.float32).double()
    y = F.batch_norm(x, rm, rv, w, b, training=False, momentum=mom, eps=eps)
    g.case("batchnorm.eval", {"eps": eps, "momentum": mom}, x=x, weight=w, bias=b, running_mean=rm,
           running_var=rv, y=y)

    (logits,) = req(randn(6, 3, scale=3.0))
    labels = torch.randperm(6) % 3  # every class present
    weights = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    loss = F.cross_entropy(logits, labels, weight=weights)
    (dl,) = grads(loss, (logits,))
    g.case("ce.weighted", {}, logits=logits, labels=labels.double(), weights=weights, loss=loss.reshape(1), dlogits=dl)

    for name, T in [("kd.t4", 4.0), ("kd.t10", 10.0)]:
        s, t = req(randn(5, 3, scale=3.0))[0], randn(5, 3, scale=3.0)
        loss = T * T * F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean")
        (ds,) = grads(loss, (s,))
        g.case(name, {"T": T}, student=s, teacher=t, loss=loss.reshape(1), dstudent=ds)

    adam = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8}
    for name, cls, hp in [("adam.wd", torch.optim.Adam, dict(adam, weight_decay=5e-4)),
                          ("adamw.wd", torch.optim.AdamW, dict(adam, weight_decay=1e-2)),
                          ("sgd.momentum", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3})]:
        p0, gs = randn(50), [randn(50) for _ in range(3)]
        p = nn.Parameter(p0.clone())
        opt = cls([p], **{k: tuple(v) if k == "betas" else v for k, v in hp.items()})
        for gi in gs:
            p.grad = gi.clone()
            opt.step()
        st = opt.state[p]
        out = {"m3": st["exp_avg"], "v3": st["exp_avg_sq"]} if "exp_avg" in st else {"buf3": st["momentum_buffer"]}
        g.case(name, hp, p0=p0, g1=gs[0], g2=gs[1], g3=gs[2], p3=p, **out)

    g.save("kernels.safetensors")
    return g


STUDENT = {"init": (0.0, 0.5, 0.05), "batchnorm": True}

# One whole-model golden file per entry: `<arch>_<teacher|student>[_<suffix>]`. Optional keys:
# classes (2), class_weights (all 1), labels ([0, 1]), batchnorm (False: the teacher's own BN,
# heft's --batchnorm), suffix. Add a model here (and to
# build()) to get its golden file; heft's `check` reads everything it needs from the file.
MODELS = [
    dict(arch="alexnet", student=False),
    dict(arch="alexnet", student=True),
    dict(arch="squeezenet1_1", student=False),
    dict(arch="squeezenet1_1", student=True),
    # class weights other than 1 (heft check must honour the `class_weights` metadata)
    dict(arch="squeezenet1_1", student=False, classes=3, class_weights=[0.5, 1.0, 2.0], labels=[0, 2],
         suffix="weighted"),
    # a teacher with BatchNorm after every feature convolution (heft train-teacher --batchnorm)
    dict(arch="squeezenet1_1", student=False, batchnorm=True, suffix="bn"),
    dict(arch="resnet20", student=False),
    dict(arch="resnet20", student=True),
]
# Input side of each model's golden file: ResNet-20 is the CIFAR network (32 px, RGB).
SIZE = {"alexnet": 64, "squeezenet1_1": 64, "resnet20": 32}
IN_CH = {"alexnet": 1, "squeezenet1_1": 1, "resnet20": 3}
ADAM = {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 5e-4}
STEPS = 3


def build(arch, student, classes, batchnorm):
    cfg = dict(classes=classes, in_ch=IN_CH[arch], width=0.25, student=STUDENT if student else None)
    if arch == "alexnet":
        return heft_models.alexnet(size=SIZE[arch], hidden=256, conv1_pad=5, dropout=0.0, batchnorm=batchnorm, **cfg)
    if arch == "resnet20":
        assert not batchnorm, "ResNet-20 always has batch norm"
        return heft_models.resnet20(**cfg)
    return heft_models.squeezenet("1_1", dropout=0.0, batchnorm=batchnorm, **cfg)


def start(arch, student, classes, batchnorm=False):
    """The model (seed 1, Kaiming-normal weights, zero biases, train mode) and its input batch."""
    torch.manual_seed(1)
    model = build(arch, student, classes, batchnorm)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    model.train()
    return model, torch.randn(2, IN_CH[arch], SIZE[arch], SIZE[arch])


def model_file(arch, student, classes=2, class_weights=None, labels=(0, 1), batchnorm=False, suffix=None):
    model, x = start(arch, student, classes, batchnorm)
    labels = torch.tensor(list(labels))
    class_weights = class_weights or [1.0] * classes
    cw = torch.tensor(class_weights)
    init = copy.deepcopy(model)
    t = {f"weights/{k}": v.clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    names = [n for n, _ in model.named_parameters()]
    assert all(f"weights/{n}" in t for n in names), "parameter names differ from state-dict names"

    logits = model(x)
    loss = F.cross_entropy(logits, labels, weight=cw)
    gs = torch.autograd.grad(loss, list(model.parameters()))
    t.update({f"grad/{n}": gr for n, gr in zip(names, gs)})
    t.update(x=x, labels=labels.float(), logits=logits.detach(), loss=loss.detach().reshape(1))

    # the free-running trajectory, and every parameter before each later step (step<k>/<name>)
    # so that heft can be checked per step from PyTorch's own parameters (teacher forcing)
    opt = torch.optim.Adam(init.parameters(), **{k: tuple(v) if k == "betas" else v for k, v in ADAM.items()})
    traj = []
    for k in range(STEPS):
        if k > 0:
            t.update({f"step{k}/{n}": p.detach().clone() for n, p in init.named_parameters()})
        opt.zero_grad()
        step_loss = F.cross_entropy(init(x), labels, weight=cw)
        step_loss.backward()
        traj.append(step_loss.item())
        opt.step()
    assert traj[0] == loss.item()
    t["trajectory"] = torch.tensor(traj, dtype=torch.float32)

    meta = {"arch": arch, "student": student, "width": 0.25, "hidden": 256, "input": SIZE[arch], "batch": 2,
            "classes": classes, "in_ch": IN_CH[arch], "conv1_pad": 5, "dropout": 0.0, "class_weights": class_weights,
            "adam": ADAM}
    if batchnorm:  # only where set, so the other files' metadata stays as it was
        meta.update(batchnorm=True)
    if student:
        meta.update(student_init=list(STUDENT["init"]), student_batchnorm=STUDENT["batchnorm"])
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    g = Golden()
    g.tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in t.items()}
    fname = f"{arch}_{'student' if student else 'teacher'}{'_' + suffix if suffix else ''}.safetensors"
    g.save(fname, meta)
    nw = sum(k.startswith("weights/") for k in t)
    print(f"{fname}: {nw} state tensors, {len(names)} params, loss {loss.item():.6f}, trajectory {traj}")
    return g


# A bug heft check must locate: the backward of one inner layer scaled (its output gradient x
# SCALE), in SqueezeNet's student where the layer sits in one branch of a fire module.
SCALED = dict(arch="squeezenet1_1", student=True, layer="features.6.expand3x3", scale=1.05)


def scaled_backward(arch, student, layer, scale):
    """tests/data/scaled_backward.safetensors: `grad/<name>` of the MODELS case (arch, student)
    with a backward pre-hook scaling the gradient of `layer`'s output by `scale` (so that layer's
    parameters, its batch norm's, and the share of every earlier layer's gradient that flows
    through it are scaled). Swapped into that case's golden file by tests/golden.rs."""
    model, x = start(arch, student, 2)
    model.get_submodule(layer).register_full_backward_pre_hook(lambda m, go: tuple(g * scale for g in go))
    loss = F.cross_entropy(model(x), torch.tensor([0, 1]), weight=torch.ones(2))
    names = [n for n, _ in model.named_parameters()]
    gs = torch.autograd.grad(loss, list(model.parameters()))
    g = Golden()
    g.tensors = {f"grad/{n}": gr.detach().contiguous() for n, gr in zip(names, gs)}
    fname = os.path.join(ROOT, "tests", "data", "scaled_backward.safetensors")
    os.makedirs(os.path.dirname(fname), exist_ok=True)
    case = f"{arch}_{'student' if student else 'teacher'}"
    g.save(fname, {"model": case, "layer": layer, "scale": json.dumps(scale)})
    print(f"{os.path.relpath(fname, ROOT)}: {len(names)} gradients of {case}, backward x{scale} at {layer}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    g = kernels()
    print(f"kernels.safetensors: {len(g.meta)} cases, {len(g.tensors)} tensors")
    for case in MODELS:
        model_file(**case)
    scaled_backward(**SCALED)


if __name__ == "__main__":
    main()
