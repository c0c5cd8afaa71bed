"""PyTorch side of `heft bench --compare`: times one training step of heft's models in PyTorch
on the same data shape and recipe as heft's `RandomStep` (random N(0,1) input, labels i % classes,
class-weighted CE, Adam lr 1e-3 with L2 weight decay 5e-4, activation coefficients at lr 2e-4;
the student step adds the teacher's forward and alpha*T^2*KL at T=10, alpha=0.1).

The models are heft's PyTorch twins (tools/reference/heft_models.py: same layers, same names).
Usage: torch_step.py --json '<rows>' [--reps 5] [--threads 2] [--device cpu|cuda]
where <rows> is a JSON list of {"arch", "input", "width", "hidden", "student", "batch",
"batchnorm"} (batchnorm: heft's --batchnorm teacher; optional, default false).
`--params` prints each row's parameter count instead of timing it (to check the twins against
`heft summary`).
Prints one JSON object per row: {"row": i, "ms": median step milliseconds, "device": ...}.
Needs: pip install torch.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import heft_models  # noqa: E402

STUDENT = {"init": [0.0, 0.5, 0.05], "batchnorm": True}


def build(row, student):
    bn = row.get("batchnorm", False)
    if row["arch"] == "alexnet":
        return heft_models.alexnet(2, 1, row["input"], row["width"], row["hidden"], 5, student=student, batchnorm=bn)
    return heft_models.squeezenet(row["arch"].replace("squeezenet", ""), 2, 1, row["width"], student=student, batchnorm=bn)


def step_fn(row, device):
    torch.manual_seed(1)
    teacher = build(row, None).to(device)
    model = build(row, STUDENT).to(device) if row["student"] else teacher
    coefs = [p for n, p in model.named_parameters() if n.endswith("coef")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("coef")]
    groups = [{"params": rest, "lr": 1e-3}] + ([{"params": coefs, "lr": 2e-4}] if coefs else [])
    opt = torch.optim.Adam(groups, weight_decay=5e-4)
    b, s = row["batch"], row["input"]
    x = torch.randn(b, 1, s, s, device=device)
    y = torch.arange(b, device=device) % 2
    w = torch.ones(2, device=device)
    model.train()
    teacher.eval() if row["student"] else None

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y, weight=w)
        if row["student"]:
            with torch.no_grad():
                t = teacher(x)
            kd = F.kl_div(F.log_softmax(logits / 10, 1), F.softmax(t / 10, 1), reduction="batchmean")
            loss = loss + 0.1 * 100 * kd
        loss.backward()
        opt.step()
        return loss.item()  # heft reads the loss back every step too

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--params", action="store_true")
    a = ap.parse_args()
    if a.params:
        for i, row in enumerate(json.loads(a.json)):
            model = build(row, STUDENT if row["student"] else None)
            print(json.dumps({"row": i, "params": sum(p.numel() for p in model.parameters())}), flush=True)
        return
    torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name() if a.device == "cuda" else f"cpu, {a.threads} threads"
    for i, row in enumerate(json.loads(a.json)):
        step = step_fn(row, a.device)
        for _ in range(2):
            step()
        ms = []
        for _ in range(a.reps):
            t = time.perf_counter()
            step()
            if a.device == "cuda":
                torch.cuda.synchronize()
            ms.append((time.perf_counter() - t) * 1e3)
        ms.sort()
        print(json.dumps({"row": i, "ms": ms[len(ms) // 2], "device": f"torch {torch.__version__} {name}"}), flush=True)


if __name__ == "__main__":
    main()
