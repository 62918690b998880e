import hashlib, hmac, json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["WEBHOOK_SECRET"].encode()

class Check(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ts = self.headers.get("X-Latchkey-Timestamp", "")
        want = "sha256=" + hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = ts.isdigit() and abs(time.time() - int(ts)) <= 300
        if not fresh or not hmac.compare_digest(want, self.headers.get("X-Latchkey-Signature", "")):
            return self.answer(400, {"error": "bad signature"})
        req = json.loads(body)
        if req["username"] != "demo":
            return self.answer(401, {"error": "unknown_user"})
        if not hmac.compare_digest(req["password"].encode(), b"demo password"):
            return self.answer(401, {})
        self.answer(200, {"subject": "demo-1", "username": "demo", "email": "demo@example.com",
                          "email_verified": True, "name": "Demo User", "groups": ["staff"]})

    def answer(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

HTTPServer(("127.0.0.1", int(os.environ.get("WEBHOOK_PORT", "9090"))), Check).serve_forever()
