"""Rooms: a teacher's session shown live to followers. The rooms of this
process and their latest-wins slots (hub.py), the bus across processes
(bus.py: in process, or Redis), the messages built once per change
(messages.py, train.py) and the class view (classview.py).

Owns: every room of this process and its followers' slots.
Imports: model, schemas, errors, stream, sessions, lecture."""
