"""An upstream behind gatehouse, in Python's standard library only.

gatehouse is configured with `identity.assertion.algorithm: HS256` and a shared secret; this
service verifies the X-Gatehouse-Assertion (HMAC-SHA256, issuer, audience, expiry) and answers
with who called. The plain X-Gatehouse-* headers are never trusted without it.

    GATEHOUSE_ASSERTION_SECRET=... PORT=3000 python3 server.py
"""
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ["GATEHOUSE_ASSERTION_SECRET"].encode()
ISSUER = os.environ.get("GATEHOUSE_ISSUER", "gatehouse")
AUDIENCE = os.environ.get("GATEHOUSE_AUDIENCE", "upstream")
LEEWAY = 30


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_assertion(token: str, method: str, target: str) -> dict:
    """The assertion's claims, or ValueError. The algorithm is pinned: only HS256 is accepted.
    An assertion bound to a request (gatehouse's bind_request: htm, htp, jti) must be this one's."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except Exception as err:  # noqa: BLE001 - any malformed input is simply invalid
        raise ValueError("malformed assertion") from err
    if header.get("alg") != "HS256":
        raise ValueError("unexpected algorithm")
    expected = hmac.new(SECRET, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise ValueError("bad signature")
    now = time.time()
    if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
        raise ValueError("wrong issuer or audience")
    if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + LEEWAY < now:
        raise ValueError("expired")
    bound = [name for name in ("htm", "htp", "jti") if name in claims]
    if bound and (len(bound) < 3 or claims["htm"] != method or claims["htp"] != target):
        raise ValueError("bound to another request")
    return claims


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        token = self.headers.get("X-Gatehouse-Assertion")
        try:
            claims = verify_assertion(token or "", self.command, self.path)
        except ValueError as err:
            return self.answer(401, {"title": "Unauthorized", "status": 401, "detail": str(err)})
        identity = claims["identity"]
        user = identity.get("user") or {}
        org = identity.get("activeOrg") or {}
        self.answer(200, {
            "upstream": "python",
            "path": self.path,
            "principal": identity.get("principal"),
            "user_id": user.get("userId"),
            "email": user.get("email"),
            "org_id": org.get("orgId"),
            "org_role": org.get("role"),
        })

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json" if status < 400 else "application/problem+json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: gatehouse writes the access log
        pass


if __name__ == "__main__":
    # Localhost only: in the sidecar pattern nothing reaches this service except through gatehouse.
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
