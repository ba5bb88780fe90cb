"""What every measured Python process of the bench does the same way (torch_forward.py,
torch_train.py, hf_extract.py).

- The paired protocol of tools/bench/src/paired.ts, the child's side: `@@ready {json}`
  after the warm-up, one timed call per `run` line on stdin answered with `@@result
  {"seconds": s}`, until `finish`; then the summary as `@@done {json}` (print_summary).
- What a PyTorch baseline reports about its own process (torch_info): versions, the
  threads and malloc setting it really ran with, and which BLAS kernels it used, so a
  result can be checked against the settings the bench meant to give it.

Only the standard library is imported at the top: hf_extract.py times its own imports.
"""
import json
import os
import sys


def emit(tag, payload):
    """One protocol line, `@@<tag> {json}`, flushed (the parent waits for it)."""
    sys.stdout.write(f"@@{tag} {json.dumps(payload)}\n")
    sys.stdout.flush()


def serve(ready, timed_call):
    """Prints `@@ready {ready}`, then runs timed_call() (which returns its seconds) once per
    `run` line on stdin until `finish` or the end of stdin."""
    emit("ready", ready)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            emit("result", {"seconds": timed_call()})
        elif cmd == "finish":
            break
        elif cmd:
            raise SystemExit(f"unknown command {cmd!r}")


def print_summary(summary, served):
    """The run's summary: `@@done {json}` after serving (the parent reads it as the last
    protocol line), plain JSON on one line otherwise."""
    if served:
        emit("done", summary)
    else:
        print(json.dumps(summary))


def loaded_blas():
    """Which BLAS shared library the process mapped (Debian's torch links libblas.so.3, an
    alternative that is the slow reference BLAS unless OpenBLAS is installed)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if line.strip() else ""
                base = os.path.basename(p)
                if "blas" in base or "lapack" in base:
                    libs.add(os.path.realpath(p))
    except OSError:
        pass
    return sorted(libs)


def openblas_corename():
    """The kernel family OpenBLAS picked at load time (e.g. SkylakeX, Haswell, or Prescott
    when 0.3.21 does not recognise a newer CPU and falls back to SSE3 kernels), or None."""
    import ctypes
    for path in loaded_blas():
        if "openblas" not in os.path.basename(path):
            continue
        try:
            fn = ctypes.CDLL(path).openblas_get_corename
            fn.restype = ctypes.c_char_p
            return fn().decode()
        except (OSError, AttributeError):
            continue
    return None


def torch_info(torch):
    """The process a PyTorch baseline ran in (the TorchInfo fields of src/torch.ts)."""
    import numpy as np
    return {
        "engine": "torch",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "env_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
        "blas": loaded_blas(),
        "openblas_corename": openblas_corename(),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
    }
