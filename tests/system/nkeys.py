#!/usr/bin/python3
"""nkeys.py: NKeys and NATS JWTs for the system tests (python3-nacl).

  nkeys.py user SEEDFILE        a user NKey: writes its seed, prints its public key
  nkeys.py chain DIR            an operator, a system account, an account with
                                JetStream and a user of it: DIR/operator.jwt,
                                DIR/sys.pub, DIR/sys.jwt, DIR/account.pub,
                                DIR/account.jwt, DIR/user.creds

An NKey seed is base32 (no padding) of two prefix bytes, the 32-byte Ed25519
seed and a CRC16 (XMODEM, little endian); a public key is base32 of one
prefix byte, the 32-byte public key and the CRC16.
"""
import base64
import hashlib
import json
import os
import sys
import time

import nacl.signing

PREFIX = {"seed": 18 << 3, "operator": 14 << 3, "account": 0, "user": 20 << 3}


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def with_crc(raw):
    c = crc16(raw)
    return raw + bytes([c & 0xFF, c >> 8])


class Key:
    def __init__(self, kind):
        self.kind = kind
        self.sk = nacl.signing.SigningKey.generate()

    def seed(self):
        p = PREFIX[self.kind]
        b1 = PREFIX["seed"] | (p >> 5)
        b2 = (p & 31) << 3
        return b32(with_crc(bytes([b1, b2]) + bytes(self.sk)))

    def public(self):
        return b32(with_crc(bytes([PREFIX[self.kind]]) + bytes(self.sk.verify_key)))

    def sign(self, data):
        return self.sk.sign(data).signature


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt(issuer, subject, name, nats):
    header = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    claims = {"iat": int(time.time()), "iss": issuer.public(), "name": name,
              "sub": subject.public(), "nats": nats}
    claims["jti"] = b32(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest())
    payload = b64url(json.dumps(claims).encode())
    sig = b64url(issuer.sign((header + "." + payload).encode()))
    return header + "." + payload + "." + sig


def write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "user":
        k = Key("user")
        write(sys.argv[2], k.seed() + "\n")
        print(k.public())
    elif len(sys.argv) == 3 and sys.argv[1] == "chain":
        d = sys.argv[2]
        op, acc, usr, sys_ = Key("operator"), Key("account"), Key("user"), Key("account")
        unlimited = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                     "wildcards": True, "conn": -1, "leaf": -1,
                     "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
        write(os.path.join(d, "operator.jwt"),
              jwt(op, op, "recmesh-test", {"type": "operator", "version": 2}), 0o644)
        write(os.path.join(d, "sys.pub"), sys_.public() + "\n", 0o644)
        write(os.path.join(d, "sys.jwt"),
              jwt(op, sys_, "SYS", {"type": "account", "version": 2}), 0o644)
        write(os.path.join(d, "account.pub"), acc.public() + "\n", 0o644)
        write(os.path.join(d, "account.jwt"),
              jwt(op, acc, "recmesh", {"type": "account", "version": 2,
                                       "limits": unlimited}), 0o644)
        ujwt = jwt(acc, usr, "node", {"type": "user", "version": 2,
                                      "subs": -1, "data": -1, "payload": -1})
        write(os.path.join(d, "user.creds"),
              "-----BEGIN NATS USER JWT-----\n" + ujwt + "\n------END NATS USER JWT------\n\n"
              "-----BEGIN USER NKEY SEED-----\n" + usr.seed() +
              "\n------END USER NKEY SEED------\n")
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
