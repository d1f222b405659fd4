"""Why waitress serves HTTP mode: stalled clients against gunicorn's threaded worker and waitress.

The same WSGI app behind each server with 4 threads; 8 clients send headers and part of a body, then stall;
then one normal request is timed. Needs gunicorn, which signalloop does not depend on:
`pip install gunicorn && python -m bench.slow_clients`.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

APP = """
def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""
STALLED = 8
THREADS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trial(cmd: list[str], port: int, cwd: str) -> str:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stalled: list[socket.socket] = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        for _ in range(STALLED):  # a body of 1,000 bytes promised, 3 sent
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
            stalled.append(s)
        time.sleep(0.5)
        t0 = time.monotonic()
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"x"), timeout=8).read()
            return f"answered in {1000 * (time.monotonic() - t0):.0f} ms"
        except OSError as e:
            return f"not answered within 8 s ({type(e).__name__})"
    finally:
        for s in stalled:
            s.close()
        proc.terminate()
        proc.wait()


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "wapp.py").write_text(APP)
        py = sys.executable
        print(f"one normal request while {STALLED} clients stall mid-body, {THREADS} threads:")
        p = free_port()
        gthread = [py, "-m", "gunicorn", "-k", "gthread", "--threads", str(THREADS), "-w", "1"]
        print("  gunicorn gthread:", trial([*gthread, "-b", f"127.0.0.1:{p}", "wapp:app"], p, d))
        p = free_port()
        serve = f"import waitress, wapp; waitress.serve(wapp.app, host='127.0.0.1', port={p}, threads={THREADS})"
        print("  waitress:        ", trial([py, "-c", serve], p, d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
