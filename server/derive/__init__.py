"""Derive it yourself: the learner's code, restricted (restrict.py), run in
a sandbox (sandbox.py, a zygote process forking one shut-in child per job:
zygote.py, sandbox_child.py, sandbox_train.py, what they share in
sandbox_common.py), and judged against the true
gradients (attempts.py, with model.derive_check); a whole notebook cell at
once (cells.py, split and run in the child by cell_child.py, judged by
model.cell_check) and the finite-difference oracle (cells.py, with
model.finite_differences); exercise 4 (exercise4.py).

Owns: the zygote and its children.
Imports: model, schemas, errors, processes."""
