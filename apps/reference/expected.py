#!/usr/bin/env python3
"""Recomputes the expected values hard-coded in the BareFlow apps, independently of
their Rust code (Python 3, standard library only; about 30 s).

    python3 apps/reference/expected.py [APP...]    (default: every app of apps/apps.list)

Each section prints the constants of one app; compare them with the `EXPECTED_*`
constants in apps/<app>/src/lib.rs. The inputs are regenerated with a transcription of
bf-app-abi's SplitMix64.
"""
import hashlib
import math
import os
import struct
import sys

MASK64 = (1 << 64) - 1


class SplitMix64:
    """bf_app_abi::rng::SplitMix64."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def next_u32(self):
        return self.next_u64() >> 32

    def next_f32_signed(self):
        return (self.next_u32() >> 8) * (1.0 / 8388608.0) - 1.0


def fib():
    a, b, values = 0, 1, []
    for n in range(32):
        if n >= 27:
            values.append(a)
        a, b = b, a + b
    print("fib: values", values, "EXPECTED_SUM", sum(values))


def sieve():
    n = 5_000_000
    prime = bytearray([1]) * n
    prime[0] = prime[1] = 0
    for p in range(2, math.isqrt(n) + 1):
        if prime[p]:
            prime[p * p :: p] = bytearray(len(range(p * p, n, p)))
    print("sieve: EXPECTED_COUNT", sum(prime), "EXPECTED_SUM", sum(i for i in range(n) if prime[i]))


def matmul():
    n = 320
    # Exact integer arithmetic in units of 1/8 (inputs) and 1/64 (products).
    a = [[((i * 3 + j * 5) % 11 - 5) * 2 for j in range(n)] for i in range(n)]
    b_columns = list(zip(*[[(i * 7 + j * 2) % 13 - 6 for j in range(n)] for i in range(n)]))
    total = weighted = 0
    for i in range(n):
        for j in range(n):
            v = sum(x * y for x, y in zip(a[i], b_columns[j]))
            total += v
            weighted += v * ((i + 2 * j) % 7)
    print("matmul: EXPECTED_SUM", total / 64, "EXPECTED_WEIGHTED", weighted / 64)


def sha256():
    rng = SplitMix64(0x5348_4132_3536)
    data = b"".join(struct.pack("<Q", rng.next_u64()) for _ in range((2 << 20) // 8))
    print("sha256: EXPECTED_DIGEST", hashlib.sha256(data).hexdigest())
    print("sha256: ABC_DIGEST", hashlib.sha256(b"abc").hexdigest())


def quicksort():
    rng = SplitMix64(0x514F_5254)
    values = sorted(rng.next_u32() for _ in range(300_000))
    print("quicksort: EXPECTED_CHECKSUM", sum(v * (i + 1) for i, v in enumerate(values)) & MASK64)


def nbody():
    # The benchmark's C program, operation for operation (Python floats are IEEE
    # doubles and math.sqrt is correctly rounded, like sqrtsd).
    pi = 3.141592653589793
    solar_mass = 4 * pi * pi
    dpy = 365.24
    bodies = [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, solar_mass],
        [4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01,
         1.66007664274403694e-03 * dpy, 7.69901118419740425e-03 * dpy, -6.90460016972063023e-05 * dpy,
         9.54791938424326609e-04 * solar_mass],
        [8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01,
         -2.76742510726862411e-03 * dpy, 4.99852801234917238e-03 * dpy, 2.30417297573763929e-05 * dpy,
         2.85885980666130812e-04 * solar_mass],
        [1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01,
         2.96460137564761618e-03 * dpy, 2.37847173959480950e-03 * dpy, -2.96589568540237556e-05 * dpy,
         4.36624404335156298e-05 * solar_mass],
        [1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01,
         2.68067772490389322e-03 * dpy, 1.62824170038242295e-03 * dpy, -9.51592254519715870e-05 * dpy,
         5.15138902046611451e-05 * solar_mass],
    ]
    px = py = pz = 0.0
    for b in bodies:
        px += b[3] * b[6]
        py += b[4] * b[6]
        pz += b[5] * b[6]
    bodies[0][3], bodies[0][4], bodies[0][5] = -px / solar_mass, -py / solar_mass, -pz / solar_mass

    def energy():
        e = 0.0
        for i, b in enumerate(bodies):
            e += 0.5 * b[6] * (b[3] * b[3] + b[4] * b[4] + b[5] * b[5])
            for c in bodies[i + 1 :]:
                dx, dy, dz = b[0] - c[0], b[1] - c[1], b[2] - c[2]
                e -= (b[6] * c[6]) / math.sqrt(dx * dx + dy * dy + dz * dz)
        return e

    def advance(dt):
        for i, b in enumerate(bodies):
            for c in bodies[i + 1 :]:
                dx, dy, dz = b[0] - c[0], b[1] - c[1], b[2] - c[2]
                distance = math.sqrt(dx * dx + dy * dy + dz * dz)
                mag = dt / (distance * distance * distance)
                b[3] -= dx * c[6] * mag
                b[4] -= dy * c[6] * mag
                b[5] -= dz * c[6] * mag
                c[3] += dx * b[6] * mag
                c[4] += dy * b[6] * mag
                c[5] += dz * b[6] * mag
        for b in bodies:
            b[0] += dt * b[3]
            b[1] += dt * b[4]
            b[2] += dt * b[5]

    initial = energy()
    for step in range(100_000):
        advance(0.01)
        if step == 999:
            print("nbody: after 1000 steps %.9f (the benchmark's published -0.169087605)" % energy())
    final = energy()
    print("nbody: EXPECTED_INITIAL_NANO", round(initial * 1e9), "EXPECTED_FINAL_NANO", round(final * 1e9),
          "EXPECTED_FINAL_BITS", hex(struct.unpack("<Q", struct.pack("<d", final))[0]))



def f32(x):
    """Rounds to the nearest f32."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def tinyllama():
    # An f64 transcription of the model (libm exp/sin/cos, Python's own summation):
    # the generated tokens must match the app's f32 computation exactly; the margins
    # between the best and second-best probabilities show how robust that is. The
    # checksum mixes in the f32 probabilities' bits, so it comes from the app itself.
    dim, hidden, layers, heads, kv_heads, vocab, seq = 128, 384, 2, 4, 4, 256, 32
    hd = dim // heads
    kvd = kv_heads * hd
    rng = SplitMix64(0x7469_6E79_6C6C_616D)

    def fill(n, center, amplitude):
        return [f32(center + f32(amplitude * rng.next_f32_signed())) for _ in range(n)]

    a_dim = f32(math.sqrt(f32(3.0 / dim)))
    a_hidden = f32(math.sqrt(f32(3.0 / hidden)))
    emb = fill(vocab * dim, 0.0, 1.0)
    rms_att = fill(layers * dim, 1.0, f32(0.1))
    wq = fill(layers * dim * dim, 0.0, a_dim)
    wk = fill(layers * kvd * dim, 0.0, a_dim)
    wv = fill(layers * kvd * dim, 0.0, a_dim)
    wo = fill(layers * dim * dim, 0.0, a_dim)
    rms_ffn = fill(layers * dim, 1.0, f32(0.1))
    w1 = fill(layers * hidden * dim, 0.0, a_dim)
    w2 = fill(layers * dim * hidden, 0.0, a_hidden)
    w3 = fill(layers * hidden * dim, 0.0, a_dim)
    rms_final = fill(dim, 1.0, f32(0.1))
    wcls = fill(vocab * dim, 0.0, a_dim)

    def matmul(w, offset, x, rows):
        n = len(x)
        return [sum(w[offset + i * n + j] * x[j] for j in range(n)) for i in range(rows)]

    def rmsnorm(x, w, offset):
        scale = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + 1e-5)
        return [w[offset + i] * scale * x[i] for i in range(len(x))]

    def softmax(x):
        m = max(x)
        e = [math.exp(v - m) for v in x]
        s = sum(e)
        return [v / s for v in e]

    def rope(vec, pos):
        out = list(vec)
        for h in range(len(vec) // hd):
            for i in range(hd // 2):
                angle = pos * 10000.0 ** (-(2 * i) / hd)
                c, s = math.cos(angle), math.sin(angle)
                x0, x1 = vec[h * hd + 2 * i], vec[h * hd + 2 * i + 1]
                out[h * hd + 2 * i] = x0 * c - x1 * s
                out[h * hd + 2 * i + 1] = x0 * s + x1 * c
        return out

    key_cache = [[None] * seq for _ in range(layers)]
    value_cache = [[None] * seq for _ in range(layers)]

    def forward(token, pos):
        x = emb[token * dim : (token + 1) * dim]
        for l in range(layers):
            xb = rmsnorm(x, rms_att, l * dim)
            q = rope(matmul(wq, l * dim * dim, xb, dim), pos)
            key_cache[l][pos] = rope(matmul(wk, l * kvd * dim, xb, kvd), pos)
            value_cache[l][pos] = matmul(wv, l * kvd * dim, xb, kvd)
            att = [0.0] * dim
            for h in range(heads):
                kv = (h // (heads // kv_heads)) * hd
                scores = softmax([
                    sum(q[h * hd + i] * key_cache[l][t][kv + i] for i in range(hd)) / math.sqrt(hd)
                    for t in range(pos + 1)
                ])
                for i in range(hd):
                    att[h * hd + i] = sum(scores[t] * value_cache[l][t][kv + i] for t in range(pos + 1))
            x = [a + b for a, b in zip(x, matmul(wo, l * dim * dim, att, dim))]
            xb = rmsnorm(x, rms_ffn, l * dim)
            h1 = matmul(w1, l * hidden * dim, xb, hidden)
            h3 = matmul(w3, l * hidden * dim, xb, hidden)
            hb = [a / (1 + math.exp(-a)) * b for a, b in zip(h1, h3)]
            x = [a + b for a, b in zip(x, matmul(w2, l * dim * hidden, hb, dim))]
        return matmul(wcls, 0, rmsnorm(x, rms_final, 0), vocab)

    prompt = b"BareFlow JIT"
    token, tokens, pos = prompt[0], [], 0
    while len(tokens) < 16:
        logits = forward(token, pos)
        if pos + 1 < len(prompt):
            token = prompt[pos + 1]
        else:
            p = softmax(logits)
            token = max(range(vocab), key=lambda i: (p[i], -i))
            best, second = sorted(p, reverse=True)[:2]
            print("tinyllama: pos %2d token %3d p=%.6f margin %.1e" % (pos, token, best, best - second))
            tokens.append(token)
        pos += 1
    print("tinyllama: EXPECTED_TOKENS", tokens)


APPS = {f.__name__: f for f in (fib, sieve, matmul, sha256, quicksort, nbody, tinyllama)}


def listed_apps():
    """The apps of apps/apps.list, in its order: one per line, `#` starts a comment."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apps.list")
    with open(path) as f:
        return [words[0] for words in (line.split("#")[0].split() for line in f) if words]


if __name__ == "__main__":
    names = sys.argv[1:] or listed_apps()
    missing = [name for name in names if name not in APPS]
    if missing:
        sys.exit("expected.py: no reference for %s (references: %s)" % (", ".join(missing), ", ".join(APPS)))
    for name in names:
        APPS[name]()
