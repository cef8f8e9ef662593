"""The web backend: FastAPI sessions that step the lecture's MLP and stream
every node's tensors to the browser. `create_app` in app.py assembles it;
`python -m backprop_ninja.server` (or `backprop-ninja`) runs it under uvicorn."""
