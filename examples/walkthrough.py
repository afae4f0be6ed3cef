"""One forward and backward pass of a tiny DMF, printing every delta (sample 0) with the
equation of the paper it comes from, top to bottom. derivations/03_backward.md derives each line.

    python examples/walkthrough.py
"""
import numpy as np

from dmf_numpy import DMF
from dmf_numpy.core.ops import softmax_cross_entropy

rng = np.random.default_rng(0)
model = DMF(x_dims=(6, 5, 4), y_dims=(7, 5, 3), shared_dims=(5, 4, 3), n_classes=3, dtype=np.float64)
x, y, labels = rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), np.array([0, 1, 2, 1])


def show(layer, source, delta):
    print(f"d eps/d {layer:<6} {source:<28}", np.array2string(delta[0], max_line_width=200,
                                                             formatter={"float_kind": "{:+.4e}".format}))


scores, (h, s) = model.forward(x, y)                    # Eqs. 4 and 3
loss, d_scores = softmax_cross_entropy(scores, labels)  # step 1: (softmax - onehot) / N
paths = {}
model.backward(d_scores, (h, s), paths=paths)           # Eqs. 2, 5-8, recording the fork of Eq. 5
print(f"DMF {model.dims['x']} / {model.dims['y']} / {model.shared_dims}, batch {len(labels)}, loss {loss:.4f}")
show("z", "(softmax - onehot) / N", d_scores)
for layer, fork in paths.items():                       # s.3, s.2, s.1, then h_x.3 .. h_x.1, h_y.3 ..
    if layer.startswith("s."):                          # one source: the head or the layer above
        top = layer == f"s.{model.L}"
        show(layer, "head: d_scores @ W_out" if top else "Eqs. 6 and 8", fork["total"])
        continue
    for part, source in (("modality", "modality path (Eq. 2)"), ("shared", "shared path (Eq. 7)"),
                         ("total", "total (Eq. 5)")):
        if fork[part] is not None:
            show(layer, source, fork[part])
