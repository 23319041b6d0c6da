"""SCRAM-SHA-512 connection set-up rate against the broker: N sequential connections, each a
SaslHandshake v1 and two SaslAuthenticate v1 round trips over a real socket (the client side
with hashlib's PBKDF2), then closed. Prints connections per second, the broker's CPU seconds
spent (from /proc/PID/stat) and handshakes per broker CPU-second (per core).

usage: sasl_bench.py BOOTSTRAP USER PASSWORD N BROKER_PID
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time


def frame(api_key, version, corr, body):
    client_id = b"bench"
    head = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    msg = head + body
    return struct.pack(">i", len(msg)) + msg


def recv_frame(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf
    (n,) = struct.unpack(">i", exact(4))
    return exact(n)


def authenticate(s, corr, token):
    s.sendall(frame(36, 1, corr, struct.pack(">i", len(token)) + token))
    resp = recv_frame(s)[4:]  # skip correlation id
    (err, mlen) = struct.unpack(">hh", resp[:4])
    off = 4 + max(mlen, 0)
    (alen,) = struct.unpack(">i", resp[off:off + 4])
    if err:
        raise RuntimeError(f"SaslAuthenticate error {err}")
    return resp[off + 4:off + 4 + alen]


def login(bootstrap, user, password, salted_cache):
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    try:
        mech = b"SCRAM-SHA-512"
        s.sendall(frame(17, 1, 1, struct.pack(">h", len(mech)) + mech))
        resp = recv_frame(s)
        assert struct.unpack(">h", resp[4:6])[0] == 0, "handshake refused"
        cnonce = base64.b64encode(os.urandom(18)).decode()
        bare = f"n={user},r={cnonce}"
        server_first = authenticate(s, 2, ("n,," + bare).encode()).decode()
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        salt, it = base64.b64decode(attrs["s"]), int(attrs["i"])
        key = (salt, it)
        if key not in salted_cache:
            salted_cache[key] = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, it)
        salted = salted_cache[key]
        client_key = hmac.new(salted, b"Client Key", "sha512").digest()
        stored = hashlib.sha512(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth = f"{bare},{server_first},{without_proof}".encode()
        sig = hmac.new(stored, auth, "sha512").digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
        final = authenticate(s, 3, f"{without_proof},p={proof}".encode())
        assert final.startswith(b"v="), final
    finally:
        s.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    bootstrap, user, password, n, pid = sys.argv[1:]
    n = int(n)
    cache = {}
    login(bootstrap, user, password, cache)  # warm-up (and the client's one PBKDF2)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    for _ in range(n):
        login(bootstrap, user, password, cache)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    per_core = n / cpu if cpu > 0 else float("inf")
    print(f"connections={n} elapsed_s={elapsed:.2f} rate_per_s={n / elapsed:.0f} "
          f"broker_cpu_s={cpu:.2f} handshakes_per_broker_cpu_s={per_core:.0f}")


if __name__ == "__main__":
    main()
