"""Make RS256 JWTs for the jwt benchmark cases, signed with python3's cryptography package
(a library outside turnpike's code).

usage: python3 jwt_rs256.py KEY.pem ISS COUNT
prints COUNT tokens, one a line, each with `iss` = ISS, `exp` one hour ahead and a distinct
`jti` (so COUNT > 1 gives tokens that are all different).
"""
import base64
import json
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main(argv):
    with open(argv[1], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    iss, count = argv[2], int(argv[3])
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    exp = int(time.time()) + 3600
    out = []
    for i in range(count):
        claims = {"iss": iss, "exp": exp, "jti": "bench-%d" % i}
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = ("%s.%s" % (header, payload)).encode()
        sig = b64url(key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()))
        out.append("%s.%s.%s" % (header, payload, sig))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv)
