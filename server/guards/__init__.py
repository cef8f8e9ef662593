"""The guards in front of every route: who may talk to the server (hosts,
origins, tokens: security.py), what a request may send (bodies.py), and the
memory budget everything is counted against before it is built (budget.py).

Owns: the budget's ledger and the access token.
Imports: model, schemas, errors, settings."""
