"""The HTTP and WebSocket routes, thin: parse with a schema, call the
capability that owns the state, answer with a schema object. pages.py serves
the front end.

Owns: nothing: the stores live on app.state (deps.py).
Imports: model, schemas, errors, guards, stream, derive, sessions, lecture, rooms."""
