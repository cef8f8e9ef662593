"""The web app: sessions that step the lecture's MLP, live training, Derive
it, and rooms, over HTTP and WebSocket. `backprop-ninja` runs it under
uvicorn (`python -m backprop_ninja.server` too, but with the current folder
first on the server's own sys.path); `app.create_app` assembles it.

Its packages, bottom of the stack first (docs/architecture.md has the
picture, the paths of a request, and which may import which):

    schemas/    the wire format, and nothing else
    guards/     hosts, origins, tokens; body limits; the memory budget
    stream/     frames, their summaries, the inspector's tensors
    live/       the training workers
    derive/     the learner's code: restriction, sandbox, judging
    sessions/   sessions, their history, snapshots, shared links, word lists
    rooms/      a teacher's session followed live
    routes/     thin HTTP and WebSocket routes, and the pages

and beside them: app.py, settings.py, errors.py, processes.py (how child
processes start) and lecture.py (the graph and its texts for a config)."""
