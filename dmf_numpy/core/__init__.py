"""The paper's mathematics, NumPy only: the fusion models (Eqs. 1-8) and their hand-written
backward pass, the generative variant, the learning paths of Fig. 2, the gradient check and
input validation. Nothing here imports from outside ``core/``: read it without meeting a data
loader, a training loop or a file."""
