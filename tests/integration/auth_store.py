#!/usr/bin/python3
"""The artifact server peer (tests/peers/artifact_server.py) behind a
bearer token: every request without "Authorization: Bearer <token>",
the token read from --token-file, is answered 401. For the
artifacts.headers_file scenario of test_init_pipeline.sh.

Takes artifact_server.py's options plus --token-file F; logs each
request like it, with "auth": "ok" or "missing"/"wrong" (never the
token).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
import artifact_server  # noqa: E402
import peerlib  # noqa: E402


class AuthHandler(artifact_server.Handler):
    token = None

    def _serve(self):
        got = self.headers.get("Authorization")
        verdict = "ok" if got == "Bearer " + self.token else (
            "missing" if got is None else "wrong")
        self.state.log.write("auth.check", path=self.path, auth=verdict)
        if verdict != "ok":
            self._path = self.path
            self._plain(401, "unauthorized\n",
                        [("WWW-Authenticate", "Bearer")])
            return
        super()._serve()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peerlib.add_common_args(p)
    p.add_argument("--root", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--token-file", required=True)
    p.add_argument("--truncate", type=int)
    p.add_argument("--drop-after", type=int)
    p.add_argument("--stall", type=float)
    p.add_argument("--status", action="append")
    args = p.parse_args()
    with open(args.token_file) as f:
        AuthHandler.token = f.read().strip()
    log = peerlib.JsonLog(args.log)
    AuthHandler.state = artifact_server.State(args, log)
    server = peerlib.make_server(AuthHandler, args.port, args.cert, args.key)
    return peerlib.serve(server, args, log, "auth-store")


if __name__ == "__main__":
    sys.exit(main())
