"""Sessions: one model each (session.py), all of them (store.py), their
history, snapshots, shared links' replays (replay.py, trajectories.py),
evaluation, and the word lists they train on (datasets.py).

Owns: every session's model and history, and the word lists.
Imports: model, schemas, errors, settings, guards, stream, live, derive."""
