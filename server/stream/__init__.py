"""What a session sends on its stream: frames (FramePublic and the binary
layout of their tensors: frames.py), the batched summaries they carry
(summaries.py) and the inspector's tensors (inspected.py).

Owns: no state but each session's summary cache.
Imports: model, schemas."""
