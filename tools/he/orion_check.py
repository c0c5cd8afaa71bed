"""Encrypted inference of a heft student with Orion (orion-fhe, MIT; CKKS in Lattigo, Apache-2.0).

    python tools/he/orion_check.py OUT.onnx --images 64 [--json R.json] [--logn 15]

Takes the ONNX and OUT.onnx.sample.safetensors that `heft export STUDENT --onnx OUT --samples N
--data DIR` writes (`x` test images, `logits` heft's plaintext logits, `labels`), turns the graph
into an Orion network (exact rewrite, see orion_graph.py), checks that network in plaintext
against heft's logits, then encrypts each of the first N images, runs the network on the
ciphertext and decrypts. It reports argmax agreement with heft, the max logit error,
accuracy encrypted against plaintext, seconds per image, peak memory, the CKKS parameters and
the levels consumed (Orion's count beside the depth `heft he-report` predicts).

Encrypted runs are slow (minutes per image for the CT students): `--log R.jsonl` appends each
image's result as it comes, and a rerun with the same log skips those images.

Exit status: 0 when every image's argmax agrees with heft's and the max logit error is within
--tol (relative to the largest |logit|), 1 when not, 2 when the model cannot be run (an
unsupported layer, the plaintext check failing, parameters over the 128-bit bound).
"""
import argparse
import atexit
import contextlib
import io
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
import torch
from safetensors.numpy import load_file

import orion
import orion.nn as on
from orion.nn.linear import LinearTransform
from orion_graph import load

# log2(Q*P) allowed for 128-bit classical security with a ternary secret (HomomorphicEncryption.org)
BOUND_128 = {13: 218, 14: 438, 15: 881, 16: 1761, 17: 3524}


def depth(net):
    """Levels along the deepest path of the lowered network (Orion's accounting)."""
    d = {net.input_name: 0}
    for (inputs, output), layer in zip(net.steps, net.layers):
        kind = type(layer).__name__
        cost = {"Conv2d": 1, "Linear": 1, "AvgPool2d": 1, "Mult": 1}.get(kind, getattr(layer, "depth", 0) or 0)
        d[output] = max(d[i] for i in inputs) + cost
    return d[net.output_name]


def special_primes(room, first_bits):
    """Key-switching primes: as many as fit (up to 3) of at least first_bits bits each, which
    cuts the number of digits per rotation key, and so its size, by that factor."""
    for k in (3, 2, 1):
        bits = min(61, room // k)
        if bits >= first_bits:
            return [bits] * k
    return None


def ckks_config(levels, logn, scale_bits, first_bits, keys_dir, insecure=False):
    logq = [first_bits] + [scale_bits] * levels
    if insecure:  # tests only: any ring dimension, room for 3 special primes
        bound = dict(BOUND_128)
        bound[logn] = sum(logq) + 3 * 61
    else:
        bound = BOUND_128
    fits = lambda n: special_primes(bound[n] - sum(logq), first_bits) is not None
    if logn is None:
        logn = next((n for n in sorted(BOUND_128) if fits(n)), None)
        if logn is None:
            raise ValueError(f"depth {levels} needs log2(Q) = {sum(logq)}: over every 128-bit bound without bootstrapping")
    elif logn not in bound or not fits(logn):
        raise ValueError(f"log2(Q) = {sum(logq)} plus a {first_bits}-bit special prime exceeds the 128-bit bound of N = 2^{logn}")
    logp = special_primes(bound[logn] - sum(logq), first_bits)
    cfg = {
        # secret of Hamming weight 2N/3, as a uniform ternary secret has: the bounds above assume
        # one (Orion's default of 192 is a sparse secret, weaker at the same N)
        "ckks_params": {"LogN": logn, "LogQ": logq, "LogP": logp, "LogScale": scale_bits, "H": 2 ** (logn + 1) // 3, "RingType": "standard"},
        # keys and packed weights go to disk and are loaded one layer at a time: a network's
        # rotation keys at N = 2^15 outgrow 24 GiB of memory
        "orion": {"margin": 2, "embedding_method": "hybrid", "backend": "lattigo", "fuse_modules": True, "debug": False,
                  "io_mode": "save", "keys_path": f"{keys_dir}/keys.h5", "diags_path": f"{keys_dir}/diagonals.h5"},
    }
    return cfg, sum(logq) + sum(logp)


def set_up(net, cfg, x, verbose):
    """Keys, fitted ranges, packed weights and bootstrap placement: Orion's fit and compile."""
    t0 = time.time()
    scheme = orion.init_scheme(cfg)
    # Orion's "save" mode writes each linear transform's encoded diagonals to disk and loads
    # them back one transform at a time when it evaluates, but keeps them in memory after
    # writing as well: freed here, a network's compile needs one transform's diagonals at a
    # time instead of all of them (the CT AlexNet student: ~40-50 GB)
    lt, save = scheme.lt_evaluator, scheme.lt_evaluator.save_plaintext_diagonals

    def save_and_free(layer_name, transform_id, row, col, diag_idxs):
        save(layer_name, transform_id, row, col, diag_idxs)
        lt.remove_plaintext_diagonals(transform_id)

    lt.save_plaintext_diagonals = save_and_free
    # likewise each layer's diagonals in Python: written to disk when packed, read back by
    # that layer's compile; dropped after either (their indices kept), so only one layer's
    # values are held at a time
    drop_after(LinearTransform, "save_transforms")
    drop_after(on.Linear, "compile")
    drop_after(on.Conv2d, "compile")  # and AvgPool2d, a Conv2d
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(len(x))), batch_size=1)
    run = (lambda fn, *args: fn(*args)) if verbose else quiet
    run(orion.fit, net, loader)
    input_level = run(orion.compile, net)
    bootstraps = sum(isinstance(m, on.Bootstrap) for m in net.modules())
    return {"seconds": time.time() - t0, "input_level": input_level, "bootstraps": bootstraps}


def drop_after(cls, method):
    """Make cls.method keep only the indices of the instance's `diagonals` after it runs (the
    bootstrap placement counts them; the values are on disk). Once per class."""
    inner = getattr(cls, method)
    if getattr(inner, "drops_diagonals", False):
        return

    def wrapped(self, *args, **kwargs):
        out = inner(self, *args, **kwargs)
        self.diagonals = {block: dict.fromkeys(diags) for block, diags in self.diagonals.items()}
        return out

    wrapped.drops_diagonals = True
    setattr(cls, method, wrapped)


def read_log(path):
    """{image index: record, "setup": the last set-up record} from a --log file, if it exists."""
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                done["setup" if "setup" in rec else rec["image"]] = rec.get("setup", rec)
    return done


def append_log(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def quiet(fn, *args):
    """Run an Orion step without its progress printing."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx")
    ap.add_argument("--images", type=int, default=8, help="encrypt the first N sample images")
    ap.add_argument("--logn", type=int, help="ring dimension 2^LOGN (default: the smallest 128-bit-secure one)")
    ap.add_argument("--scale-bits", type=int, default=40)
    ap.add_argument("--first-bits", type=int, default=55, help="bits of the first prime (scale + integer part)")
    ap.add_argument("--he-depth", type=int, help="heft he-report's depth, printed beside Orion's")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--tol", type=float, default=1e-3, help="max logit error allowed, relative to the largest |logit| (default 1e-3; at least 1e-5)")
    ap.add_argument("--skip-plaintext-check", action="store_true",
                    help="encrypt even when the rewritten network differs from heft's logits in plaintext (debugging)")
    ap.add_argument("--insecure", action="store_true", help="TESTS ONLY: allow a --logn below 128-bit security (fast, not private)")
    ap.add_argument("--split", type=int, default=1, choices=(1, 2),
                    help="2: encode each convolution of >= 64 output channels as two (less memory; Orion's bootstrap placement handles two-way branches only)")
    ap.add_argument("--spare-levels", type=int, default=0,
                    help="levels beyond the network's depth (Orion's bootstrap placement may want one where branches join)")
    ap.add_argument("--log", help="append each image's result here (JSON lines); a rerun skips the images it holds")
    ap.add_argument("--keys-dir", help="where Orion stores rotation keys and packed weights (default: a temporary folder, removed at the end)")
    ap.add_argument("--verbose", action="store_true", help="show Orion's own progress output")
    a = ap.parse_args()

    try:
        sample = load_file(a.onnx + ".sample.safetensors")
    except FileNotFoundError:
        sys.exit(f"error: {a.onnx}.sample.safetensors not found: export with --samples N --data DIR")
    x, ref = sample["x"], sample["logits"].astype(np.float64)
    labels = sample.get("labels")
    n = min(a.images, len(x))
    try:
        net, products = load(a.onnx, a.split)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

    # the rewritten network in plaintext against heft's logits: a wrong rewrite stops here
    with torch.no_grad():
        clear = net(torch.from_numpy(x)).double().numpy()
    clear_err = float(np.abs(clear - ref).max())
    tol = max(1e-5, a.tol * float(np.abs(ref).max()))
    print(f"plaintext Orion network vs heft: max |logit error| {clear_err:.2e} over {len(x)} images (tolerance {tol:.1e})")
    if clear_err > tol and not a.skip_plaintext_check:
        print("error: the rewritten network does not compute heft's logits; nothing encrypted", file=sys.stderr)
        sys.exit(2)

    levels = depth(net) + a.spare_levels
    keys_dir = a.keys_dir or tempfile.mkdtemp(prefix="heft-orion-")
    if not a.keys_dir:
        atexit.register(shutil.rmtree, keys_dir, True)
    os.makedirs(keys_dir, exist_ok=True)
    try:
        cfg, logqp = ckks_config(levels, a.logn, a.scale_bits, a.first_bits, os.path.abspath(keys_dir), a.insecure)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    ck = cfg["ckks_params"]
    if a.insecure:
        print("WARNING: --insecure: these CKKS parameters are NOT 128-bit secure (for tests only)")
    print(f"CKKS: N = 2^{ck['LogN']}, {2 ** (ck['LogN'] - 1)} slots, {levels} levels, scale 2^{a.scale_bits}, "
          f"primes {a.first_bits} + {levels}x{a.scale_bits} (+ special {ck['LogP']}), log2(QP) = {logqp} "
          f"(128-bit bound {BOUND_128[ck['LogN']]})")

    done = read_log(a.log) if a.log else {}
    todo = [i for i in range(n) if i not in done]
    setup = done.pop("setup", None)
    if todo:
        setup = set_up(net, cfg, x, a.verbose)
        if a.log:
            append_log(a.log, {"setup": setup})
        print(f"fit + compile (keys, packed weights): {setup['seconds']:.1f} s; input level {setup['input_level']}, "
              f"{setup['bootstraps']} bootstraps")
        net.he()
    for i in todo:
        t = time.time()
        ct = orion.encrypt(orion.encode(torch.from_numpy(x[i : i + 1]), setup["input_level"]))
        out = net(ct)
        rec = {"image": i, "logits": out.decrypt().decode().double().numpy().reshape(-1)[: ref.shape[1]].tolist(),
               "seconds": time.time() - t, "levels_consumed": setup["input_level"] - out.level()}
        done[i] = rec
        if a.log:
            append_log(a.log, rec)
        agree = np.argmax(rec["logits"]) == np.argmax(ref[i])
        print(f"image {i + 1}/{n}: {rec['seconds']:.1f} s, max |error| {np.abs(np.array(rec['logits']) - ref[i]).max():.2e}, "
              f"argmax {'agrees' if agree else 'DIFFERS'}", flush=True)
    logits = [done[i]["logits"] for i in range(n)]
    seconds = [done[i]["seconds"] for i in range(n)]
    out_levels = {done[i]["levels_consumed"] for i in range(n)}
    enc = np.array(logits)
    err = np.abs(enc - ref[:n])
    agree = int((enc.argmax(1) == ref[:n].argmax(1)).sum())
    report = {
        "library": f"orion-fhe {version('orion-fhe')} (Lattigo CKKS)",
        "images": n,
        "argmax_agreement": agree,
        "max_logit_error": float(err.max()),
        "mean_logit_error": float(err.mean()),
        "max_abs_logit": float(np.abs(ref[:n]).max()),
        "plaintext_rewrite_error": clear_err,
        "seconds_per_image": float(np.mean(seconds)),
        "seconds_per_image_median": float(np.median(seconds)),
        "setup_seconds": setup["seconds"],
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "ckks": {"ring_dimension": 2 ** ck["LogN"], "slots": 2 ** (ck["LogN"] - 1), "scale_bits": a.scale_bits,
                 "log_q": ck["LogQ"], "log_p": ck["LogP"], "log_qp": logqp, "bound_128": BOUND_128[ck["LogN"]],
                 "levels": levels, "bootstraps": setup["bootstraps"], "secret_hamming_weight": ck["H"]},
        "levels_consumed": max(out_levels),
        "c2_plaintext_products": products,
        "he_report_depth": a.he_depth,
    }
    if labels is not None:
        y = labels[:n].astype(np.int64)
        report["accuracy_plaintext"] = float((ref[:n].argmax(1) == y).mean())
        report["accuracy_encrypted"] = float((enc.argmax(1) == y).mean())
    print(json.dumps(report, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=2)
    ok = agree == n and report["max_logit_error"] <= tol
    print(f"{'PASS' if ok else 'FAIL'}: {agree}/{n} argmax agree with heft, max |logit error| {report['max_logit_error']:.2e} (tolerance {tol:.1e})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
