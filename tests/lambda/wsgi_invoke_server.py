"""A Lambda Invoke API endpoint in front of a plain WSGI app, through apig-wsgi.

apig-wsgi (from PyPI) is the adapter that understands ALB events; this file only adds the
Invoke API's HTTP shape (POST /2015-03-31/functions/<name>/invocations, as the Lambda Runtime
Interface Emulator serves it) so edge-proxy can use it as a function target in tests.

Usage: python wsgi_invoke_server.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apig_wsgi import make_lambda_handler


def app(environ, start_response):
    """Echoes what WSGI saw, and sets two cookies."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    if environ.get("PATH_INFO") == "/wsgi/fail":
        raise RuntimeError("the app failed")
    echo = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ.get("QUERY_STRING", ""),
        "header_x_rep": environ.get("HTTP_X_REP", ""),
        "body_length": len(body),
    }
    start_response("201 Created", [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2; Path=/"),
    ])
    return [json.dumps(echo).encode()]


handler = make_lambda_handler(app, binary_support=True)


class Invoke(BaseHTTPRequestHandler):
    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            result, error = json.dumps(handler(event, None)).encode(), None
        except Exception as e:  # a function error, as Lambda reports it
            result, error = json.dumps({"errorMessage": str(e), "errorType": type(e).__name__}).encode(), "Unhandled"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if error:
            self.send_header("X-Amz-Function-Error", error)
        self.send_header("Content-Length", str(len(result)))
        self.end_headers()
        self.wfile.write(result)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Invoke)
    print("ready", flush=True)
    server.serve_forever()
