"""Measure two open-licence CKKS libraries on the same small network, to choose one for heft.

    python tools/he/compare_libraries.py [--rounds 2] [--logn 13] [--json R.json]

Libraries: Orion (orion-fhe, MIT; CKKS in Lattigo, Apache-2.0) and TenSEAL (Apache-2.0; CKKS
in Microsoft SEAL, MIT). Network, identical on both (torch.manual_seed(0) weights, one random
1x28x28 image): conv 1->4 channels, kernel 7, stride 3 (-> 4x8x8) + bias, x*x, flatten,
linear 256->32 + bias, x*x, linear 32->10 + bias. Reference: torch in float64.
TenSEAL follows its MNIST tutorial (im2col encoding of the input, one conv2d_im2col per
output channel, pack_vectors, square, mm); its pack_vectors multiplies by a mask, so it needs
6 levels where Orion (an orion.nn network, compiled) needs 5. Both get the same ring dimension
and the same 6-level modulus chain, within the 128-bit bound of the HE standard; the defaults
are TenSEAL's tutorial chain at N = 8192 (31 + 6x26 + special 31 = 218 bits).

--tenseal-route bias-row replaces the tutorial's `mm + bias` before the second mm, whose
error is not CKKS noise (see its --help), by a bias row in the matrix.

Each library runs in its own subprocess (separate peak RSS); rounds alternate the libraries
(orion, tenseal, orion, ...) because the machine may be shared. Per run: setup seconds
(context, keys, compiled/encoded weights), seconds per image (median of --images encrypted
inferences: encode+encrypt, evaluate, decrypt), max abs error against float64, peak RSS.
"""
import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version

BOUND_128 = {13: 218, 14: 438, 15: 881}  # log2(Q*P) for 128-bit security, ternary secret


def model_and_input():
    import torch
    torch.manual_seed(0)
    conv, fc1, fc2 = torch.nn.Conv2d(1, 4, 7, stride=3), torch.nn.Linear(256, 32), torch.nn.Linear(32, 10)
    x = torch.rand(1, 1, 28, 28)
    with torch.no_grad():
        c, f1, f2, xd = conv.double(), fc1.double(), fc2.double(), x.double()
        h = c(xd) ** 2
        ref = f2(f1(h.flatten(1)) ** 2).reshape(-1).numpy()
    return conv.float(), fc1.float(), fc2.float(), x, ref


def chain(a):
    """Modulus chain: LogQ = first prime + --levels scale primes, LogP = one special prime."""
    logq = [a.first_bits] + [a.scale_bits] * a.levels
    logp = [a.special_bits]
    total = sum(logq) + sum(logp)
    if total > BOUND_128[a.logn]:
        sys.exit(f"log2(QP) = {total} exceeds the 128-bit bound {BOUND_128[a.logn]} of N = 2^{a.logn}")
    return logq, logp, total


def run_orion(a, conv, fc1, fc2, x):
    import torch
    import orion
    import orion.nn as on

    class Net(on.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.sq1, self.flat = on.Conv2d(1, 4, 7, stride=3), on.Quad(), on.Flatten()
            self.fc1, self.sq2, self.fc2 = on.Linear(256, 32), on.Quad(), on.Linear(32, 10)

        def forward(self, v):
            return self.fc2(self.sq2(self.fc1(self.flat(self.sq1(self.conv(v))))))

    net = Net()
    for dst, src in ((net.conv, conv), (net.fc1, fc1), (net.fc2, fc2)):
        dst.weight.data, dst.bias.data = src.weight.data.clone(), src.bias.data.clone()
    logq, logp, _ = chain(a)
    cfg = {"ckks_params": {"LogN": a.logn, "LogQ": logq, "LogP": logp, "LogScale": a.scale_bits, "H": 192, "RingType": "standard"},
           "orion": {"margin": 2, "embedding_method": "hybrid", "backend": "lattigo", "fuse_modules": True, "debug": False}}
    quiet = contextlib.redirect_stdout(io.StringIO())
    t0 = time.time()
    with quiet:
        orion.init_scheme(cfg)
        orion.fit(net, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(1)), batch_size=1))
        level = orion.compile(net)
    setup = time.time() - t0
    net.he()
    outs, secs = [], []
    for _ in range(a.images):
        t = time.time()
        with contextlib.redirect_stdout(io.StringIO()):
            out = net(orion.encrypt(orion.encode(x, level)))
            outs.append(out.decrypt().decode().double().reshape(-1)[:10].numpy())
        secs.append(time.time() - t)
    extra = {"input_level": level, "levels_consumed": level - out.level(),
             "bootstraps": sum(isinstance(m, on.Bootstrap) for m in net.modules()), "secret_hamming_weight": 192}
    return "orion-fhe " + version("orion-fhe"), setup, secs, outs, extra


def run_tenseal(a, conv, fc1, fc2, x):
    import tenseal as ts
    logq, logp, _ = chain(a)
    t0 = time.time()
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=2 ** a.logn, coeff_mod_bit_sizes=logq + logp)
    ctx.global_scale = 2 ** a.scale_bits
    ctx.generate_galois_keys()
    # TenSEAL encodes plaintext weights at use; lists prepared once here, as in its tutorial
    kernels, cbias = conv.weight.view(-1, 7, 7).tolist(), conv.bias.tolist()
    w1, b1, w2, b2 = fc1.weight.T.tolist(), fc1.bias.tolist(), fc2.weight.T.tolist(), fc2.bias.tolist()
    if a.tenseal_route == "bias-row":
        w1 = w1 + [b1] + [[0.0] * len(b1)] * 63
    setup = time.time() - t0
    image = x.view(28, 28).tolist()
    outs, secs = [], []
    for _ in range(a.images):
        t = time.time()
        enc, windows = ts.im2col_encoding(ctx, image, 7, 7, 3)
        chans = [enc.conv2d_im2col(k, windows) + b for k, b in zip(kernels, cbias)]
        if a.tenseal_route == "bias-row":  # a channel of ones (squares to 1) carries fc1's bias through mm
            chans.append(enc.conv2d_im2col([[0.0] * 7] * 7, windows) + 1.0)
        h = ts.CKKSVector.pack_vectors(chans)
        h.square_()
        h = h.mm(w1) if a.tenseal_route == "bias-row" else h.mm(w1) + b1
        h.square_()
        h = h.mm(w2) + b2
        outs.append(h.decrypt())
        secs.append(time.time() - t)
    extra = {"levels_available": len(logq) - 1, "route": a.tenseal_route, "secret": "uniform ternary (SEAL)"}
    name = "tenseal " + version("tenseal") + (" bias-row" if a.tenseal_route == "bias-row" else "")
    return name, setup, secs, outs, extra


def worker(a):
    import numpy as np
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    import orion, tenseal  # noqa: F401  (both imported so the baseline is the same)
    conv, fc1, fc2, x, ref = model_and_input()
    with open("/proc/self/statm") as f:
        base = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    name, setup, secs, outs, extra = (run_orion if a.worker == "orion" else run_tenseal)(a, conv, fc1, fc2, x)
    logq, logp, total = chain(a)
    err = max(float(np.abs(np.asarray(o, dtype=np.float64) - ref).max()) for o in outs)
    rep = {"library": name, "setup_s": setup, "s_per_image": statistics.median(secs), "times_s": secs,
           "max_abs_error": err, "max_abs_ref": float(np.abs(ref).max()),
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_after_imports_mib": base,
           "ckks": {"N": 2 ** a.logn, "slots": 2 ** (a.logn - 1), "log_q": logq, "log_p": logp, "log_qp": total,
                    "bound_128": BOUND_128[a.logn], "scale_bits": a.scale_bits}, **extra}
    with open(a.out, "w") as f:
        json.dump(rep, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs per library")
    ap.add_argument("--images", type=int, default=5, help="encrypted inferences per run (median reported)")
    ap.add_argument("--logn", type=int, default=13, choices=sorted(BOUND_128))
    ap.add_argument("--levels", type=int, default=6, help="scale primes in the chain (TenSEAL needs 6, Orion 5)")
    ap.add_argument("--scale-bits", type=int, default=26)
    ap.add_argument("--first-bits", type=int, default=31, help="first prime: scale + integer bits")
    ap.add_argument("--special-bits", type=int, default=31, help="key-switching prime")
    ap.add_argument("--libs", default="orion,tenseal")
    ap.add_argument("--tenseal-route", choices=["tutorial", "bias-row"], default="tutorial",
                    help="tutorial: mm + bias as in TenSEAL's tutorial (a plain-vector add pads with zeros, not "
                         "replicas, so the next mm reads copies without the bias); bias-row: fc1's bias as a matrix row")
    ap.add_argument("--json", help="write all runs and the summary here")
    ap.add_argument("--worker", choices=["orion", "tenseal"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a)
    logq, logp, total = chain(a)
    print(f"CKKS for both: N = 2^{a.logn}, LogQ {logq}, LogP {logp}, log2(QP) = {total} (128-bit bound {BOUND_128[a.logn]}), scale 2^{a.scale_bits}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for lib in a.libs.split(","):
                out = os.path.join(tmp, f"{lib}{r}.json")
                cmd = [sys.executable, __file__, "--worker", lib, "--out", out, "--images", str(a.images), "--logn", str(a.logn),
                       "--levels", str(a.levels), "--scale-bits", str(a.scale_bits), "--first-bits", str(a.first_bits),
                       "--special-bits", str(a.special_bits), "--tenseal-route", a.tenseal_route]
                t = time.time()
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"{lib} failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
                with open(out) as f:
                    rep = json.load(f)
                rep.update(round=r + 1, process_s=time.time() - t)
                runs.append(rep)
                print(f"round {r + 1} {lib}: done in {rep['process_s']:.1f} s", flush=True)
    hdr = f"{'library':<24}{'round':>6}{'setup s':>10}{'s/image':>10}{'max|err|':>11}{'peak RSS MiB':>14}"
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for r in runs:
        print(f"{r['library']:<24}{r['round']:>6}{r['setup_s']:>10.2f}{r['s_per_image']:>10.3f}{r['max_abs_error']:>11.2e}{r['peak_rss_mib']:>14.0f}")
    summary = {}
    for lib in dict.fromkeys(r["library"] for r in runs):
        rs = [r for r in runs if r["library"] == lib]
        summary[lib] = {"setup_s_median": statistics.median(r["setup_s"] for r in rs),
                        "s_per_image_median": statistics.median(t for r in rs for t in r["times_s"]),
                        "max_abs_error": max(r["max_abs_error"] for r in rs),
                        "peak_rss_mib": max(r["peak_rss_mib"] for r in rs)}
        s = summary[lib]
        print(f"{lib:<24}{'all':>6}{s['setup_s_median']:>10.2f}{s['s_per_image_median']:>10.3f}{s['max_abs_error']:>11.2e}{s['peak_rss_mib']:>14.0f}")
    print(f"|reference logits| up to {runs[0]['max_abs_ref']:.3g}; RSS after importing torch, orion and tenseal "
          f"{runs[0]['rss_after_imports_mib']:.0f} MiB; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for r in runs[: len(summary)]:
        print(r["library"], {k: v for k, v in r.items() if k in ("input_level", "levels_consumed", "bootstraps", "levels_available", "route")})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "summary": summary, "cpus": os.cpu_count(), "loadavg": os.getloadavg()}, f, indent=2)


if __name__ == "__main__":
    main()
