"""An OpenAI-compatible /v1/embeddings server for tests that injects faults and counts requests.

usage: fake_openai.py PORT [FAULTS] [CHAT_FAULTS]
FAULTS is a comma list applied to successive requests (then every request succeeds):
  429 (with Retry-After: 0), 500, timeout (sleeps 3 s), malformed (invalid JSON), short (too few
  embeddings), ok. A last fault ending in `*` (e.g. `timeout*`) repeats for every later request. GET /stats returns {"requests": n, "inputs": m, "chat": c} (m counts inputs of
well-formed answers; c counts chat completions). Vectors are deterministic.
POST /v1/chat/completions answers "Summary: <the user message>" with usage; CHAT_FAULTS, a comma list
like FAULTS for chat requests: slow (sleeps 3 s), 500, malformed (invalid JSON), empty (no choices), ok.
Binds 127.0.0.1 only.
"""
import hashlib
import json
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
FAULTS = [f for f in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if f]
CHAT_FAULTS = [f for f in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if f]


def nth_fault(faults, n):
    if n < len(faults):
        return faults[n].rstrip("*")
    if faults and faults[-1].endswith("*"):
        return faults[-1].rstrip("*")
    return "ok"
lock = threading.Lock()
stats = {"requests": 0, "inputs": 0, "chat": 0}


def vector(text, dims):
    out, counter = [], 0
    while len(out) < dims:
        h = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend(x / 2**31 for x in struct.unpack("<8i", h))
        counter += 1
    return out[:dims]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.reply(200, dict(stats))

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if self.path.endswith("/chat/completions"):
            with lock:
                fault = nth_fault(CHAT_FAULTS, stats["chat"])
                stats["chat"] += 1
            if fault == "slow":
                time.sleep(3)
            if fault == "500":
                return self.reply(500, {"error": {"message": "boom"}})
            if fault == "malformed":
                return self.reply(200, b'{"choices": [ {"message": ')
            if fault == "empty":
                return self.reply(200, {"object": "chat.completion", "choices": []})
            user = [m["content"] for m in body["messages"] if m["role"] == "user"][0]
            return self.reply(200, {"object": "chat.completion", "model": body["model"], "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": f"Summary: {user}"}}],
                "usage": {"prompt_tokens": len(user) // 4 + 1, "completion_tokens": 10, "total_tokens": len(user) // 4 + 11}})
        with lock:
            n = stats["requests"]
            stats["requests"] += 1
            fault = nth_fault(FAULTS, n)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if fault == "429":
            return self.reply(429, {"error": {"message": "rate limited"}}, [("retry-after", "0")])
        if fault == "500":
            return self.reply(500, {"error": {"message": "boom"}})
        if fault == "timeout":
            time.sleep(3)
        if fault == "malformed":
            return self.reply(200, b'{"data": [ {"embedding": [0.1, ')
        dims = body.get("dimensions") or 16
        data = [{"object": "embedding", "index": i, "embedding": vector(t, dims)} for i, t in enumerate(inputs)]
        if fault == "short":
            data = data[:-1]
        if fault == "ok":  # only answers a client can use count as embedded inputs
            with lock:
                stats["inputs"] += len(inputs)
        tokens = sum(len(t) // 4 + 1 for t in inputs)
        self.reply(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
