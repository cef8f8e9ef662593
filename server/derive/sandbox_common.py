"""What every job run inside the sandboxed child shares (an attempt in
sandbox_child.py, a whole cell in cell_child.py, exercise 4 in
sandbox_train.py): the namespaces the learner's code sees, the parser's and
the restriction's errors as a failure, and one statement run with its error
told the way Python would tell it. Imported by those modules, importing none
of them, so no module of the child imports another in a circle."""
from __future__ import annotations

import builtins
import sys
import traceback
from types import CodeType, SimpleNamespace

import torch
import torch.nn.functional as F

from . import restrict

SOURCE = "<your code>"  # the file name of the learner's code in tracebacks

# Only the allowlisted functions are reachable through `torch` and `F`: the
# restriction refuses other attribute names, and these namespaces do not
# have them either (two walls, not one).
TORCH = SimpleNamespace(**{a: getattr(torch, a) for a in restrict.ATTRIBUTES if hasattr(torch, a)
                           and (callable(getattr(torch, a)) or isinstance(getattr(torch, a), torch.dtype))})
FUNCTIONAL = SimpleNamespace(**{a: getattr(F, a) for a in restrict.ATTRIBUTES
                                if hasattr(F, a) and callable(getattr(F, a))})


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    """torch's C code imports torch.storage when a tensor is indexed with a
    range, through the builtins of the code it runs under: hand it modules
    torch has already loaded, and nothing else (the learner cannot name
    __import__: names with '_' are refused)."""
    if level == 0 and (name == "torch" or name.startswith("torch.")) and name in sys.modules:
        return sys.modules[name] if fromlist else sys.modules["torch"]
    raise ImportError(f"imports are not allowed ({name})")


BUILTINS = {name: getattr(builtins, name) for name in restrict.BUILTINS}
BUILTINS["__import__"] = _import

MEMORY = "your code needed more memory than the limit"


class Failed(Exception):
    """The learner's code gave no result; `answer` says why, as the wire has it."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.answer = {"status": status, "message": message}


def guarded(parse):
    """parse(), with the parser's and the restriction's errors raised as Failed
    (an attempt compiles its code through it, a cell each of its statements)."""
    try:
        return parse()
    except SyntaxError as err:
        raise Failed("syntax", f"line {err.lineno}: {err.msg}") from None
    except ValueError as err:  # e.g. a NUL byte in the source
        raise Failed("syntax", str(err)) from None
    except restrict.Refused as err:
        raise Failed("refused", str(err)) from None
    except (RecursionError, MemoryError):
        raise Failed("refused", "the code is nested too deeply to parse") from None


def environment(scope: dict) -> dict:
    return {"__builtins__": BUILTINS, "torch": TORCH, "F": FUNCTIONAL, **scope}


def tensors(arrays: dict) -> dict:
    return {k: torch.from_numpy(a).clone() if hasattr(a, "dtype") else a for k, a in arrays.items()}


def line_of(err: BaseException) -> str:
    """"line N: " for the learner's line the error came from, or ""."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == SOURCE]
    return f"line {frames[-1].lineno}: " if frames else ""


def run_code(program: CodeType, env: dict, in_scope: str) -> str | None:
    """Run compiled learner code in env: None, or its error as a sentence with its line
    (`in_scope` says, after a NameError, what the code can read). Running out of memory
    is not the learner's bug to read about: it raises Failed, and the job stops."""
    try:
        exec(program, env)
    except MemoryError:
        raise Failed("memory", MEMORY) from None
    except NameError as err:
        return f"{line_of(err)}{err}; in scope are {in_scope}"
    except RuntimeError as err:
        if "allocate" in str(err) or "memory" in str(err):
            raise Failed("memory", MEMORY) from None
        return f"{line_of(err)}RuntimeError: {str(err)[:400]}"
    except Exception as err:  # the learner's own bug: told the way Python would tell it
        return f"{line_of(err)}{type(err).__name__}: {str(err)[:400]}"
    return None
