"""Live training: the pool of worker processes (pool.py), one worker's loop
(worker.py), and the fused step both they and POST /train take (stepping.py).

Owns: the worker processes and the copies of playing models they hold.
Imports: model, schemas, stream, processes."""
