"""Check a student exported by `heft export --onnx OUT --samples N --data DIR`.

1. `onnx.checker.check_model` on OUT, and a list of the operator types it uses;
2. onnxruntime (CPU) on the N sample images of OUT.sample.safetensors, compared with the
   logits heft computed for them: max abs error and argmax agreement.

Needs `pip install onnx onnxruntime safetensors numpy` (not a build dependency of heft).
Usage: python tools/he/check_onnx.py OUT.onnx
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file


def main(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"onnx checker: ok; operators: {', '.join(ops)}; nodes: {len(model.graph.node)}")
    sample = load_file(path + ".sample.safetensors")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    got = sess.run(None, {name: sample["x"]})[0]
    want = sample["logits"]
    err = np.abs(got - want)
    agree = (got.argmax(1) == want.argmax(1)).mean()
    print(f"onnxruntime {ort.__version__} vs heft on {len(want)} images: max abs logit error {err.max():.3e} "
          f"(logits up to {np.abs(want).max():.3f}); argmax agreement {agree:.3f}")
    return 0 if agree == 1.0 and err.max() <= 1e-3 * max(1.0, np.abs(want).max()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
