"""What a forked child of the zygote does with one attempt: shut itself in,
then parse, restrict and run the learner's code on each batch's tensors, and
write the results as JSON to its pipe. It never returns: it ends with
os._exit, so nothing inherited from the zygote (atexit, buffers) runs.

The order matters: limits and lost privileges first, so even the parser
(which hostile source may push to its limits) runs shut in."""
from __future__ import annotations

import ctypes
import json
import os
import resource
import signal

import torch

from . import cell_child, restrict
# the namespaces, the failure and the one way to run learner code are shared with cell_child and
# sandbox_train; Failed, environment, tensors and SOURCE are imported from here by sandbox_train
from .sandbox_common import SOURCE, Failed, environment, guarded, run_code, tensors  # noqa: F401

NOBODY = 65534  # uid/gid of `nobody` on Debian and most Linuxes
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

LIBC = ctypes.CDLL(None, use_errno=True)  # loaded in the zygote: the child may not open files


def shut_in(keep_fd: int, cpu_s: int, mem_bytes: int) -> None:
    """Limits, no files but the result pipe, no privileges."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the zygote gone, so is this child
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, 1 << 16)
    vm = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    # after 1 s of CPU (a lecture line takes ~10 ms) a runaway steps back to
    # nice 19, so the other learners' attempts get the cores until it is stopped
    signal.signal(signal.SIGXCPU, lambda *_: _demote(cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (1, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (vm + mem_bytes, vm + mem_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (0, 0))
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no forks or threads once it is nobody
    LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _demote(cpu_s: int) -> None:
    os.nice(19)
    signal.signal(signal.SIGXCPU, signal.SIG_DFL)  # the next SIGXCPU, at cpu_s, ends it
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))


def _encode(value, dtype: torch.dtype, max_numel: int) -> dict:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = torch.tensor(float(value), dtype=dtype)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"it is a {type(value).__name__}, not a tensor")
    if value.numel() > max_numel:
        raise ValueError(f"it has {value.numel():,} elements; at most {max_numel:,} are allowed")
    value = value.detach().to(dtype)
    return {"shape": list(value.shape), "values": value.reshape(-1).tolist()}


def compile_code(code: str, names: frozenset[str], source: str = SOURCE):
    """Parse, restrict and compile, or raise Failed."""
    return guarded(lambda: compile(restrict.check(code, names), source, "exec"))


def execute(program, env: dict, target: str) -> object:
    """Run the program in env; returns what it assigned to `target`, or raises Failed."""
    error = run_code(program, env, "the forward values, n, the true gradients upstream of this node, torch and F")
    if error is not None:
        raise Failed("error", error)
    if target not in env:
        raise Failed("error", f"your code does not assign {target}: end with `{target} = ...`")
    return env[target]


def run(job: dict) -> dict:
    """An attempt: parse, restrict, run once per scope; a JSON-ready answer.
    A job of kind "cell" is a whole cell (cell_child.py)."""
    if job.get("kind") == "cell":
        return cell_child.run(job)
    dtype = getattr(torch, job["dtype"])
    scopes = [tensors(s) for s in job["scopes"]]
    target = job["target"]
    try:
        program = compile_code(job["code"], frozenset(scopes[0]) | {"torch", "F"} | set(restrict.BUILTINS))
        results = []
        for scope in scopes:
            value = execute(program, environment(scope), target)
            try:
                results.append(_encode(value, dtype, job["max_numel"]))
            except (TypeError, ValueError) as err:
                raise Failed("error", f"{target} must be a tensor: {err}") from None
    except Failed as err:
        return err.answer
    return {"status": "ok", "results": results}


def main(job: dict, write_fd: int, runner=run) -> None:
    """The forked child's whole life; `runner(job)` makes the answer."""
    try:
        shut_in(write_fd, job["cpu_s"], job["mem_bytes"])
        answer = runner(job)
    except MemoryError:
        answer = {"status": "memory", "message": "your code needed more memory than the limit"}
    except BaseException as err:  # never let the child fall back into the zygote's loop
        answer = {"status": "error", "message": f"the sandbox failed: {type(err).__name__}: {err}"}
    try:
        data = json.dumps(answer).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
    finally:
        os._exit(0)
