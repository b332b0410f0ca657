"""Make HS256 JWTs with python3's hmac, for the jwt benchmark cases.

usage: python3 jwt_hs256.py SECRET ISS COUNT
prints COUNT tokens, one a line, each with `iss` = ISS, `exp` one hour ahead and a distinct
`jti` (so COUNT > 1 gives tokens that are all different).
"""
import base64
import hashlib
import hmac
import json
import sys
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main(argv):
    secret, iss, count = argv[1].encode(), argv[2], int(argv[3])
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    exp = int(time.time()) + 3600
    for i in range(count):
        claims = {"iss": iss, "exp": exp, "jti": "bench-%d" % i}
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = ("%s.%s" % (header, payload)).encode()
        sig = b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
        print("%s.%s.%s" % (header, payload, sig))


if __name__ == "__main__":
    main(sys.argv)
