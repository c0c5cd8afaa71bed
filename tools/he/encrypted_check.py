"""CKKS-encrypted inference of a student exported by `heft export --onnx OUT --samples N`.

Runs the exported ONNX under CKKS with IBM HElayers (`pyhelayers`) on the first N images of
OUT.sample.safetensors (`x` [S,1,H,W], `logits` [S,C]) and reports:
  * argmax agreement of the decrypted logits with heft's plaintext logits;
  * max abs logit error vs heft (and of the plaintext reference vs heft, for scale);
  * time per image and in total (compile, key generation, model encoding, encrypt/predict/decrypt);
  * the CKKS parameters that HElayers chose: slots / ring dimension, multiplicative depth,
    modulus chain, scale (fractional) and integer precision bits, security level.

Licence: pyhelayers is IBM's *community edition* package, licensed for NON-COMMERCIAL use only
(see the licence in its wheel's dist-info). It is not a dependency of heft; install it yourself:
    pip install pyhelayers-*.whl onnx onnxruntime safetensors numpy

Exact graph rewrite (on by default, --no-rewrite to skip). HElayers' ONNX importer turns every
Mul/Add with a constant into its own layer that costs one CKKS level, so heft's activation
    y = c2*x*x + c1*x + c0,  x = Conv/Gemm(z)            (costs 2 levels in HElayers, 30 total)
does not fit a 128-bit non-bootstrappable parameter set. Where c1^2 >= 4*c2*c0 (real roots r1,r2)
the polynomial factors as y = (s*(x - r1)) * (sign(c2)*s*(x - r2)), s = sqrt|c2|, so the
script duplicates the producing Conv/Gemm with scaled weights and shifted biases and multiplies
the two copies: one level per activation, no constant Add (which would also leave unknown values in
HElayers' padding slots). AveragePool ceil_mode=1 is set to 0 where no window is partial
(identical output; HElayers only supports 0). The rewritten graph is checked against the original
with onnxruntime on the same images before anything is encrypted.

Usage:
    python tools/he/encrypted_check.py OUT.onnx --images 20 --batch 16 [--backend openfhe|seal]
        [--security 128] [--json report.json] [--estimate-only]
Exit status: 0 when all images agree in argmax, 1 when some disagree, 2 when HElayers cannot
compile the model under the requirements (the reasons it prints are the diagnosis).
"""
import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper as oh
from onnx import numpy_helper as nh
from onnx import shape_inference
from safetensors.numpy import load_file

LICENCE = "pyhelayers: IBM HElayers community edition, non-commercial use only"


# ----------------------------------------------------------------------------- ONNX rewrite


def factor_poly_activations(model, log=print):
    """Rewrite y = c2*x*x + c1*x + c0 (x the output of a Conv/Gemm used only by it) into the
    product of two scaled copies of that Conv/Gemm. Returns (new model, number rewritten)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    consumers = {}
    for n in g.node:
        for i in dict.fromkeys(n.input):
            consumers.setdefault(i, []).append(n)
    producer = {o: n for n in g.node for o in n.output}
    graph_outputs = {o.name for o in g.output}

    def arr(name):
        return nh.to_array(inits[name]).astype(np.float64)

    def other(n, name):
        a, b = n.input
        return b if a == name else a

    remove, replace, count = set(), {}, 0
    for sq in g.node:
        if sq.op_type != "Mul" or sq.input[0] != sq.input[1] or sq.input[0] in inits:
            continue
        x = sq.input[0]
        try:  # match heft's export: Mul(x,x)*c2 + x*c1, then + c0
            prod = producer[x]
            assert prod.op_type in ("Conv", "Gemm") and x not in graph_outputs
            assert len(consumers[x]) == 2
            lin = next(n for n in consumers[x] if n is not sq)
            assert lin.op_type == "Mul" and other(lin, x) in inits
            (t,) = consumers[sq.output[0]]
            assert t.op_type == "Mul" and other(t, sq.output[0]) in inits
            (v,) = consumers[t.output[0]]
            assert v.op_type == "Add" and set(v.input) == {t.output[0], lin.output[0]}
            assert consumers[lin.output[0]] == [v]
            (w,) = consumers[v.output[0]]
            assert w.op_type == "Add" and other(w, v.output[0]) in inits
        except (AssertionError, KeyError, ValueError, StopIteration):
            log(f"  activation on {x}: not heft's c2*x^2+c1*x+c0 after Conv/Gemm; left as is")
            continue
        W = arr(prod.input[1])
        C = W.shape[0]
        if prod.op_type == "Gemm":
            at = {a.name: oh.get_attribute_value(a) for a in prod.attribute}
            if (at.get("transA", 0), at.get("transB", 0), at.get("alpha", 1.0), at.get("beta", 1.0)) != (0, 1, 1.0, 1.0):
                log(f"  activation on {x}: Gemm attributes {at} not handled; left as is")
                continue
        bias = arr(prod.input[2]) if len(prod.input) > 2 and prod.input[2] else np.zeros(C)
        shape = (C, 1, 1) if prod.op_type == "Conv" else (C,)

        def per_channel(name):
            a = arr(name)
            try:
                return np.broadcast_to(a, shape).reshape(C)
            except ValueError:  # not one value per channel (or one for all)
                return None

        c2, c1, c0 = (per_channel(other(n, o)) for n, o in ((t, sq.output[0]), (lin, x), (w, v.output[0])))
        if c2 is None or c1 is None or c0 is None:
            log(f"  activation on {x}: coefficients not per-channel; left as is")
            continue
        disc = c1 * c1 - 4 * c2 * c0
        if np.any(np.abs(c2) < 1e-8) or np.any(disc < 0):
            log(f"  activation on {x}: c2 ~ 0 or complex roots in some channel; left as is")
            continue
        r1 = (-c1 + np.sqrt(disc)) / (2 * c2)
        r2 = (-c1 - np.sqrt(disc)) / (2 * c2)
        s = np.sqrt(np.abs(c2))
        bshape = (C,) + (1,) * (W.ndim - 1)
        new = []
        for tag, sc, r in (("a", s, r1), ("b", np.sign(c2) * s, r2)):
            out = f"{x}/factor_{tag}"
            g.initializer.append(nh.from_array((W * sc.reshape(bshape)).astype(np.float32), out + ".weight"))
            g.initializer.append(nh.from_array((sc * (bias - r)).astype(np.float32), out + ".bias"))
            node = onnx.NodeProto()
            node.CopyFrom(prod)
            del node.input[:]
            node.input.extend([prod.input[0], out + ".weight", out + ".bias"])
            del node.output[:]
            node.output.append(out)
            node.name = out
            new.append(node)
        new.append(oh.make_node("Mul", [new[0].output[0], new[1].output[0]], [w.output[0]], name=f"{x}/factor_mul"))
        remove.update(id(n) for n in (prod, sq, lin, t, v, w))
        replace[id(prod)] = new
        count += 1
    nodes = []
    for n in g.node:
        if id(n) in replace:
            nodes.extend(replace[id(n)])
        elif id(n) not in remove:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.value_info[:]
    return m, count


def exact_ceil_mode(model, log=print):
    """AveragePool ceil_mode=1 -> 0 where every window is complete (output unchanged)."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    count = 0
    for n in model.graph.node:
        at = {a.name: a for a in n.attribute}
        if n.op_type != "AveragePool" or "ceil_mode" not in at or at["ceil_mode"].i == 0:
            continue
        k = list(at["kernel_shape"].ints)
        s = list(at["strides"].ints) if "strides" in at else [1] * len(k)
        p = list(at["pads"].ints) if "pads" in at else [0] * (2 * len(k))
        hw = shapes.get(n.input[0], [])[2:]
        if len(hw) == len(k) and all(h and (h + p[i] + p[i + len(k)] - k[i]) % s[i] == 0 for i, h in enumerate(hw)):
            at["ceil_mode"].i = 0
            count += 1
        else:
            log(f"  {n.name}: ceil_mode=1 with a partial window; left as is (HElayers will refuse it)")
    return count


def run_onnx(model_or_path, x):
    src = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


# ----------------------------------------------------------------------------- HElayers


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def ckks_parameters(p, profile, ctx):
    prof = json.loads(profile.to_string())
    req = prof["he_conf_req"]
    primes = [int(q) for q in ctx.get_modulus_chain()]
    chain = [q.bit_length() for q in primes]
    slots = ctx.slot_count()
    return {
        "library": f"{ctx.get_library_name()} {ctx.get_scheme_name()} (via pyhelayers {p.VERSION})",
        "slots": slots,
        "ring_dimension": 2 * slots,
        "multiplicative_depth": int(req["multiplication_depth"]),
        "levels_consumed_by_model": int(prof["measures"]["chain_index_consumed_by_model"]),
        "top_chain_index": ctx.get_top_chain_index(),
        "modulus_chain_bits": chain,
        "log2_total_modulus": round(sum(math.log2(q) for q in primes), 1),  # exact, not the sum of bit lengths
        "scale_bits": int(req["fractional_part_precision"]),
        "integer_precision_bits": int(req["integer_part_precision"]),
        "security_level_bits": ctx.get_security_level(),
        "bootstrapping": req["bootstrappable"] == "true",
        "rotation_keys": int(prof["public_functions"].get("num_rotation_steps", 0)),
        "tile_layout": [int(prof["tile_layout"][f"t{i}"]) for i in range(1, int(prof["tile_layout"]["num_dims"]) + 1)],
        "packing_mode": prof["mode_name"],
        "batch_size": profile.get_optimal_batch_size(),
        "model_weights": "plaintext (server side), inputs encrypted",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx", help="ONNX file written by heft export (OUT.sample.safetensors next to it)")
    ap.add_argument("--sample", help="sample file (default: ONNX + '.sample.safetensors')")
    ap.add_argument("--images", type=int, default=20, help="number of sample images to run (default 20)")
    ap.add_argument("--batch", type=int, default=16,
                    help="batch size HElayers optimises for (default 16; for the 64x64 AlexNet student 16 needs "
                         "~15 GiB RAM, 32 more than 23 GiB)")
    ap.add_argument("--backend", choices=["openfhe", "seal"], default="openfhe",
                    help="CKKS library inside HElayers (default openfhe: multithreaded, ~2.5x faster here)")
    ap.add_argument("--security", type=int, default=128, help="security level in bits (default 128)")
    ap.add_argument("--no-lazy", action="store_true", help="pre-encode all weights (much more memory)")
    ap.add_argument("--no-rewrite", action="store_true", help="give HElayers the ONNX unchanged")
    ap.add_argument("--estimate-only", action="store_true", help="compile and print HElayers' cost estimate only")
    ap.add_argument("--json", help="also write the report as JSON here")
    args = ap.parse_args()

    import pyhelayers as p

    print(f"{LICENCE}; version {p.VERSION}")
    sample = load_file(args.sample or args.onnx + ".sample.safetensors")
    n = min(args.images, len(sample["x"]))
    x, want = sample["x"][:n].astype(np.float32), sample["logits"][:n].astype(np.float64)
    report = {"onnx": os.path.abspath(args.onnx), "images": n, "licence": LICENCE, "pyhelayers": p.VERSION}

    model = onnx.load(args.onnx)
    report["operators"] = sorted({nd.op_type for nd in model.graph.node})
    plain = run_onnx(model, x).astype(np.float64)
    report["plain_onnxruntime_vs_heft_max_abs"] = float(np.abs(plain - want).max())
    if not args.no_rewrite:
        model, nfact = factor_poly_activations(model)
        nceil = exact_ceil_mode(model)
        onnx.checker.check_model(model)
        diff = float(np.abs(run_onnx(model, x) - plain).max())
        print(f"rewrite: {nfact} activations factored, {nceil} AveragePool ceil_mode fixed; "
              f"max |rewritten - original| on these images (onnxruntime) = {diff:.2e}")
        report["rewrite"] = {"factored_activations": nfact, "ceil_mode_fixed": nceil, "max_abs_vs_original": diff}
        if diff > 1e-4 * max(1.0, float(np.abs(plain).max())):
            sys.exit("rewritten graph differs from the original; refusing to go on")
    tmp = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False)
    tmp.write(model.SerializeToString())
    tmp.close()

    T = time.perf_counter
    times = {}
    t = T()
    nnp = p.NeuralNetPlain()
    nnp.init_from_files(p.PlainModelHyperParams(), [tmp.name])
    os.unlink(tmp.name)
    req = p.HeRunRequirements()
    req.set_he_context_options([p.OpenFheCkksContext() if args.backend == "openfhe" else p.DefaultContext()])
    req.set_security_level(args.security)
    req.optimize_for_batch_size(args.batch)
    req.set_model_encrypted(False)
    if not args.no_lazy:
        req.set_lazy_mode(p.LazyMode.LAZY_ENCODING)
    profile = p.HeModel.compile(nnp, req)
    times["compile_s"] = T() - t
    if profile is None:
        print("HElayers found no feasible CKKS profile for this model (reasons above).")
        report["error"] = "no feasible HE profile"
        if args.json:
            json.dump(report, open(args.json, "w"), indent=2)
        return 2
    meas = json.loads(profile.to_string())["measures"]
    bs = profile.get_optimal_batch_size()
    report["helayers_estimate"] = {
        "predict_s_per_batch": int(meas["predict_cpu_time"]) / 1e6,
        "encrypt_s_per_batch": int(meas["encrypt_input_cpu_time"]) / 1e6,
        "model_memory_GB": int(meas["model_memory"]) / 1e9,
        "input_memory_GB": int(meas["input_memory"]) / 1e9,
    }
    print(f"compiled in {times['compile_s']:.1f} s; batch {bs}; HElayers estimate: "
          f"{report['helayers_estimate']['predict_s_per_batch']:.0f} s CPU per batch predict, "
          f"model {report['helayers_estimate']['model_memory_GB']:.1f} GB, input {report['helayers_estimate']['input_memory_GB']:.1f} GB")
    if args.estimate_only:
        print(profile.to_string())
        if args.json:
            json.dump(report, open(args.json, "w"), indent=2)
        return 0

    t = T()
    ctx = p.HeModel.create_context(profile)  # key generation (secret, relin, rotation keys)
    times["keygen_s"] = T() - t
    print(f"keys generated in {times['keygen_s']:.1f} s (peak RSS {peak_rss_gb():.1f} GiB)", flush=True)
    report["ckks"] = ckks_parameters(p, profile, ctx)
    t = T()
    nn = p.NeuralNet(ctx)
    nn.encode(nnp, profile)
    io = p.ModelIoEncoder(nn)
    times["encode_model_s"] = T() - t
    print(f"model encoded in {times['encode_model_s']:.1f} s (peak RSS {peak_rss_gb():.1f} GiB)", flush=True)

    got = []
    enc_t = pred_t = dec_t = 0.0
    nbatches = math.ceil(n / bs)
    for b in range(nbatches):
        xb = x[b * bs:(b + 1) * bs].astype(np.float64)
        real = len(xb)
        if real < bs:  # fill the fixed batch; the extra rows are dropped
            xb = np.concatenate([xb, np.zeros((bs - real,) + xb.shape[1:])])
        t = T()
        enc = p.EncryptedData(ctx)
        io.encode_encrypt(enc, [xb])
        t1 = T()
        print(f"batch {b + 1}/{nbatches}: encrypted in {t1 - t:.1f} s (peak RSS {peak_rss_gb():.1f} GiB)", flush=True)
        res = p.EncryptedData(ctx)
        nn.predict(res, enc)
        t2 = T()
        out = np.asarray(io.decrypt_decode_output(res)).reshape(bs, -1)[:real]
        t3 = T()
        enc_t, pred_t, dec_t = enc_t + t1 - t, pred_t + t2 - t1, dec_t + t3 - t2
        got.append(out)
        print(f"batch {b + 1}/{nbatches}: {real} images, encrypt {t1 - t:.1f} s, predict {t2 - t1:.1f} s, "
              f"decrypt {t3 - t2:.2f} s (peak RSS {peak_rss_gb():.1f} GiB)", flush=True)
    got = np.concatenate(got)
    times.update(encrypt_s=enc_t, predict_s=pred_t, decrypt_s=dec_t)
    times["total_s"] = sum(times.values())
    err = np.abs(got - want)
    agree = int((got.argmax(1) == want.argmax(1)).sum())
    report.update(
        argmax_agreement=agree / n, argmax_agree_count=agree, max_abs_logit_error=float(err.max()),
        mean_abs_logit_error=float(err.mean()), max_abs_logit=float(np.abs(want).max()),
        max_abs_vs_onnxruntime=float(np.abs(got - plain).max()),
        times=times, evaluated_slots=nbatches * bs, peak_rss_GiB=peak_rss_gb(),
        time_per_image_s={"predict": pred_t / n, "encrypt_predict_decrypt": (enc_t + pred_t + dec_t) / n,
                          "all_in": times["total_s"] / n},
    )

    c = report["ckks"]
    print(f"\n== encrypted inference ({c['library']}) on {n} images of {args.onnx} ==")
    print(f"argmax agreement with heft: {agree}/{n} = {agree / n:.3f}")
    print(f"max abs logit error vs heft: {err.max():.3e} (mean {err.mean():.3e}; logits up to {np.abs(want).max():.3f}); "
          f"plaintext onnxruntime vs heft: {report['plain_onnxruntime_vs_heft_max_abs']:.1e}")
    print(f"time per image: predict {pred_t / n:.1f} s, encrypt+predict+decrypt {(enc_t + pred_t + dec_t) / n:.1f} s, "
          f"all-in {times['total_s'] / n:.1f} s ({nbatches} batch(es) of {bs}, {os.cpu_count()} CPU cores, "
          f"peak RSS {peak_rss_gb():.1f} GiB)")
    print("total: " + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in times.items()))
    print(f"CKKS: ring dimension N={c['ring_dimension']} ({c['slots']} slots), multiplicative depth {c['multiplicative_depth']} "
          f"(model consumes {c['levels_consumed_by_model']}), modulus chain {len(c['modulus_chain_bits'])} primes "
          f"{c['modulus_chain_bits']} (log2 Q*P = {c['log2_total_modulus']}), scale 2^{c['scale_bits']}, "
          f"integer precision {c['integer_precision_bits']} bits, security {c['security_level_bits']} bits, "
          f"no bootstrapping; {c['rotation_keys']} rotation keys; tile layout {c['tile_layout']} ({c['packing_mode']})")
    print(LICENCE)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0 if agree == n else 1


if __name__ == "__main__":
    sys.exit(main())
