"""Run a real ``transformers serve`` (an OpenAI-compatible server) on a local model, for tests and benchmarks.

    with transformers_serve(model_dir, port, log_path) as base_url: ...

The server runs on CPU, offline, in a subprocess; the context waits for ``/health`` and terminates it on exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def transformers_serve(
    model: str | Path, port: int, log: Path, device: str = "cpu", timeout_s: float = 180, extra_args: Sequence[str] = ()
) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:<port>/v1``) once the server answers ``/health``. ``extra_args`` go to
    ``transformers serve`` (e.g. ``["--max-model-len", "8192"]``)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model), "--port", str(port),
           "--host", "127.0.0.1", "--device", device, *extra_args]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError("transformers serve did not come up:\n" + Path(log).read_text()) from None
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
