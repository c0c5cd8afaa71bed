"""PyTorch side of `heft parity`: trains heft's PyTorch twin of a model (heft_models.py) from
heft's initial weights on heft's batches, with the same recipe, and writes the loss of every
step and the eval-mode scores at the checkpoints heft asks for, so heft can compare the two
training curves step by step.

Usage: curve.py DIR, where DIR (written by `heft parity`) holds
  spec.json              model and recipe (see `heft parity --help`; keys below), overrides
  init.safetensors       the model's state dict before step 1 (torchvision names)
  teacher.safetensors    the frozen teacher's state dict (a student run with KD only)
  batches.safetensors    x [steps, B, C, H, W], labels [steps, B] (float), class_weights [K],
                         eval_x [E, C, H, W], eval_labels [E]
and writes DIR/torch.json: {"losses": [...], "evals": [{"step", "loss", "accuracy", "logits"}],
"noise": [{"losses", "evals"}, ...], "torch": version}.

Training is chaotic: a rounding-level change of the weights grows, step by step, into loss
differences of 1e-2 within tens of steps (ReLU and max-pool decisions flip; Adam turns a
gradient of rounding noise into a full step). So the same training is run again `noise_runs`
times from the initial weights multiplied by 1 + 1e-6·N(0, 1) (seeded per run): how far those
curves stray from the exact one is PyTorch's own noise, the yardstick heft's curve is judged by.
Needs: pip install torch safetensors.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
import heft_models  # noqa: E402

# the recipe keys heft writes; `peer_overrides` may change only these
RECIPE_KEYS = {"optimizer", "momentum", "lr", "weight_decay", "coef_lr", "clip_value", "clip_norm", "kd_alpha", "kd_t", "betas", "eps"}


def build(m, student):
    """The twin of heft's ModelConfig `m` (dropout off: its masks cannot be shared)."""
    arch, common = m["arch"], dict(classes=m["classes"], in_ch=m["in_channels"], width=m["width"], student=student)
    if arch == "alexnet":
        return heft_models.alexnet(size=m["input"], hidden=m["hidden"], conv1_pad=m["conv1_pad"], dropout=0.0,
                                   batchnorm=m.get("batchnorm", False), **common)
    if arch.startswith("squeezenet"):
        return heft_models.squeezenet(arch.replace("squeezenet", ""), dropout=0.0, batchnorm=m.get("batchnorm", False), **common)
    if arch == "resnet20":
        return heft_models.resnet20(**common)
    raise SystemExit(f"curve.py: no PyTorch twin of {arch!r}")


def load(model, path):
    """Load heft's state dict strictly (num_batches_tracked is PyTorch's own bookkeeping)."""
    state = load_file(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"curve.py: {path}: missing {missing}, unexpected {unexpected}")


def recipe_of(spec):
    r = dict(spec["recipe"])
    for key, value in spec.get("peer_overrides", {}).items():
        if key not in RECIPE_KEYS:
            raise SystemExit(f"curve.py: unknown recipe key {key!r} in peer_overrides (known: {sorted(RECIPE_KEYS)})")
        r[key] = value
    return r


def perturbed(model, seed):
    """Every parameter times 1 + 1e-6·N(0, 1) (running statistics kept)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + 1e-6 * torch.randn(p.shape, generator=g))
    return model


def train(spec, b, model, teacher):
    """One training run over every batch: the loss of each step and the eval points."""
    r = recipe_of(spec)
    xs, ys, cw = b["x"], b["labels"].long(), b["class_weights"]
    coefs = [p for n, p in model.named_parameters() if n.endswith(".coef")]
    rest = [p for n, p in model.named_parameters() if not n.endswith(".coef")]
    groups = [{"params": rest, "lr": r["lr"]}] + ([{"params": coefs, "lr": r["coef_lr"]}] if coefs else [])
    if r["optimizer"] == "sgd":
        opt = torch.optim.SGD(groups, momentum=r["momentum"], weight_decay=r["weight_decay"])
    else:
        opt = torch.optim.Adam(groups, betas=tuple(r["betas"]), eps=r["eps"], weight_decay=r["weight_decay"])
    evals, losses = [], []

    def evaluate(step):
        model.eval()
        with torch.no_grad():
            logits = model(b["eval_x"])
            labels = b["eval_labels"].long()
            loss = F.cross_entropy(logits, labels, weight=cw).item()
            acc = (logits.argmax(1) == labels).float().mean().item()
        model.train()
        evals.append({"step": step, "loss": loss, "accuracy": acc, "logits": logits.flatten().tolist()})

    model.train()
    for s in range(xs.shape[0]):
        if s in spec["eval_steps"]:
            evaluate(s)
        opt.zero_grad(set_to_none=True)
        logits = model(xs[s])
        loss = F.cross_entropy(logits, ys[s], weight=cw)
        if teacher is not None:
            with torch.no_grad():
                t = teacher(xs[s])
            T = r["kd_t"]
            kd = F.kl_div(F.log_softmax(logits / T, 1), F.softmax(t / T, 1), reduction="batchmean")
            loss = loss + r["kd_alpha"] * T * T * kd
        loss.backward()
        if r.get("clip_value") is not None:
            torch.nn.utils.clip_grad_value_(model.parameters(), r["clip_value"])
        if r.get("clip_norm") is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), r["clip_norm"])
        opt.step()
        losses.append(loss.item())
    if xs.shape[0] in spec["eval_steps"]:
        evaluate(xs.shape[0])
    return {"losses": losses, "evals": evals}


def main():
    d = sys.argv[1]
    spec = json.load(open(os.path.join(d, "spec.json")))
    torch.manual_seed(0)
    torch.set_num_threads(spec.get("threads", os.cpu_count()))
    torch.use_deterministic_algorithms(True)
    recipe_of(spec)  # unknown override keys fail before any work
    student = spec["model"].get("student")

    def model():
        m = build(spec["model"], student and {"init": student["init"], "batchnorm": student["batchnorm"]})
        load(m, os.path.join(d, "init.safetensors"))
        return m

    teacher = None
    if spec.get("teacher_model"):
        teacher = build(spec["teacher_model"], None)
        load(teacher, os.path.join(d, "teacher.safetensors"))
        teacher.eval()
    b = load_file(os.path.join(d, "batches.safetensors"))
    out = train(spec, b, model(), teacher)
    out["noise"] = [train(spec, b, perturbed(model(), k + 1), teacher) for k in range(spec["noise_runs"])]
    out["torch"] = torch.__version__
    with open(os.path.join(d, "torch.json.tmp"), "w") as f:
        json.dump(out, f)
    os.replace(os.path.join(d, "torch.json.tmp"), os.path.join(d, "torch.json"))


if __name__ == "__main__":
    main()
