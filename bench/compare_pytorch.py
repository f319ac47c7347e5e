#!/usr/bin/python3
"""longmix beside PyTorch, on this machine, in one run.

Times the same workloads in longmix (through `longmix scaling`) and in PyTorch, each in a
process of its own so that its peak resident memory is its own, and prints the ratio table.

PyTorch is Debian's python3-torch (1.13, CPU) made as strong as a user can make it there:
OpenBLAS as the system BLAS (libopenblas0-openmp; as installed torch falls back to the
reference BLAS, 25-45x slower at GEMM), glibc told to keep freed memory (PyTorch is 1.5-3x
faster with it on these machines), the Paramixer product as a custom autograd function of
shifted slices (its fastest form; torch.sparse is slower), MRA-2 as a batched block path.
Missing packages are installed on demand (as root, or with sudo); nothing here is needed by
the tests.

usage: /usr/bin/python3 bench/compare_pytorch.py [--threads 1,2] [--reps 3] [--quick]
                                                 [--longmix build/longmix] [--out runs/compare]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
PACKAGES = ["python3-torch", "libopenblas0-openmp"]

# name -> (longmix scaling arguments, sequence lengths, quick lengths)
CASES = {
    "product": (["--workload", "product", "--protocol", "chord", "--batch", "32", "--dim", "32"],
                [1024, 16384], [1024]),
    "paramixer-step": (["--workload", "train", "--model", "paramixer", "--task", "adding", "--batch", "32"],
                       [1024, 4096, 16384], [1024]),
    "mra": (["--workload", "mra", "--batch", "8", "--heads", "2", "--head-dim", "32", "--blocks-per-row", "8"],
            [4096], [1024]),
    "attention": (["--workload", "attention", "--batch", "8", "--heads", "2", "--head-dim", "32"],
                  [4096], [1024]),
    "encoder-mra": (["--workload", "train", "--model", "mra", "--task", "listops", "--batch", "32",
                     "--dim", "64", "--hidden", "128", "--heads", "2", "--layers", "2", "--blocks-per-row", "8"],
                    [2048], [512]),
    "encoder-exact": (["--workload", "train", "--model", "transformer", "--task", "listops", "--batch", "32",
                       "--dim", "64", "--hidden", "128", "--heads", "2", "--layers", "2"],
                      [2048], [512]),
}

# Workloads whose repetition takes milliseconds get more repetitions on both sides: 3 of them
# were at the mercy of one scheduler hiccup (the product at N = 1024 measured 1.6 ms one run,
# 0.8 ms with 20), and medians of 30 still moved 0.41-0.68 ms between runs on a shared host.
MIN_REPS = {"product": 200}


# ----------------------------------------------------------------------------- PyTorch side

def torch_workload(name, N):
    """Returns step(), one repetition of the workload, with its inputs built."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.manual_seed(0)

    class SparseMix(torch.autograd.Function):
        """V + sum_k W[:, :, k] * V shifted by offset k (mod N), with its hand-written backward."""

        @staticmethod
        def forward(ctx, w, v, offsets):
            ctx.save_for_backward(w, v)
            ctx.offsets = offsets
            n = v.shape[1]
            out = v.clone()
            for k, o in enumerate(offsets):
                out[:, :n - o].addcmul_(w[:, :n - o, k:k + 1], v[:, o:])
                out[:, n - o:].addcmul_(w[:, n - o:, k:k + 1], v[:, :o])
            return out

        @staticmethod
        def backward(ctx, dy):
            w, v = ctx.saved_tensors
            n = v.shape[1]
            dw = torch.empty_like(w)
            dv = dy.clone()
            for k, o in enumerate(ctx.offsets):
                dw[:, :n - o, k] = (dy[:, :n - o] * v[:, o:]).sum(-1)
                dw[:, n - o:, k] = (dy[:, n - o:] * v[:, :o]).sum(-1)
                dv[:, o:].addcmul_(w[:, :n - o, k:k + 1], dy[:, :n - o])
                dv[:, :o].addcmul_(w[:, n - o:, k:k + 1], dy[:, n - o:])
            return dw, dv, None

    def chord_offsets(n):
        m = max(1, math.ceil(math.log2(n)))
        return [0] + [(1 << j) % n for j in range(m)]

    class ParamixerLayer(nn.Module):
        """SPEC 1.3; the M factor MLPs' first layers as one GEMM, their second as one batched GEMM."""

        def __init__(self, n, d, h):
            super().__init__()
            self.offsets = chord_offsets(n)
            self.m = max(1, math.ceil(math.log2(n)))
            L = len(self.offsets)
            self.g = nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, d))
            self.f1 = nn.Linear(d, self.m * h)
            self.f2_w = nn.Parameter(torch.randn(self.m, h, L) / math.sqrt(h))
            self.f2_b = nn.Parameter(torch.zeros(self.m, 1, L))
            self.h = h

        def forward(self, x, v):
            B, n, _ = x.shape
            v = self.g(v)
            hidden = F.gelu(self.f1(x)).view(B * n, self.m, self.h).transpose(0, 1)  # (M, B*N, H)
            ws = torch.baddbmm(self.f2_b, hidden, self.f2_w)  # (M, B*N, L)
            for m in range(self.m):
                v = SparseMix.apply(ws[m].view(B, n, -1), v, self.offsets)
            return v

    class Paramixer(nn.Module):
        def __init__(self, n, d=32, h=32, layers=2):
            super().__init__()
            self.embed = nn.Linear(2, d)
            self.layers = nn.ModuleList(ParamixerLayer(n, d, h) for _ in range(layers))
            self.head = nn.Linear(n * d, 1)

        def forward(self, inp):
            x = self.embed(inp)
            v = x
            for layer in self.layers:
                v = layer(x, v)
            return self.head(v.flatten(1)).squeeze(1)

    def exact_attention(q, k, v):
        s = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
        return torch.matmul(torch.softmax(s, dim=-1), v)

    def mra2_attention(q, k, v, blocks_per_row=8, b=32):
        """SPEC 2, full mode, no masks, N a multiple of b: block means, top-k of the block grid
        with the first-block prior, gathered high-resolution blocks, low-resolution complement."""
        BH, n, d = q.shape
        nb = n // b
        scale = d ** -0.5
        qb, kb, vb = (t.view(BH, nb, b, d) for t in (q, k, v))
        qh, kh, vh = qb.mean(2), kb.mean(2), vb.mean(2)
        s_lr = torch.matmul(qh, kh.transpose(1, 2)) * scale  # (BH, nb, nb)
        m_lr = s_lr.max(-1, keepdim=True).values.detach()
        with torch.no_grad():
            prior = s_lr - m_lr
            prior[:, 0, :] += 5e3
            prior[:, :, 0] += 5e3
            top = prior.flatten(1).topk(min(blocks_per_row * nb, nb * nb), dim=1).indices  # (BH, K)
            rows, cols = top // nb, top % nb
            mask_hr = torch.zeros(BH, nb * nb).scatter_(1, top, 1.0).view(BH, nb, nb)
        bh = torch.arange(BH).unsqueeze(1)
        s = torch.matmul(qb[bh, rows], kb[bh, cols].transpose(-1, -2)) * scale  # (BH, K, b, b)
        with torch.no_grad():
            row_max = s.max(-1).values  # (BH, K, b)
            m_hr = torch.full((BH, nb, b), -1e30).scatter_reduce(1, rows.unsqueeze(-1).expand(-1, -1, b), row_max,
                                                                  "amax")
        a = torch.exp(s - m_hr.gather(1, rows.unsqueeze(-1).expand(-1, -1, b)).unsqueeze(-1))
        idx = rows.view(BH, -1, 1, 1).expand(-1, -1, b, d)
        out_hr = torch.zeros(BH, nb, b, d).scatter_add(1, idx, torch.matmul(a, vb[bh, cols]))
        z_hr = torch.zeros(BH, nb, b).scatter_add(1, rows.unsqueeze(-1).expand(-1, -1, b), a.sum(-1))
        a_lr = torch.exp(s_lr - m_lr - 1e4 * mask_hr) * b
        out_lr, z_lr = torch.matmul(a_lr, vh).unsqueeze(2), a_lr.sum(-1).unsqueeze(2)  # per block row
        c = m_lr - m_hr  # (BH, nb, b)
        lr_scale, hr_scale = torch.exp(torch.clamp(c, max=0)), torch.exp(-torch.clamp(c, min=0))
        num = out_hr * hr_scale.unsqueeze(-1) + out_lr * lr_scale.unsqueeze(-1)
        den = z_hr * hr_scale + z_lr * lr_scale
        return (num / (den.unsqueeze(-1) + 1e-6)).view(BH, n, d)

    class EncoderBlock(nn.Module):
        def __init__(self, d, heads, f, attend):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.ffn = nn.Sequential(nn.Linear(d, f), nn.GELU(), nn.Linear(f, d))
            self.heads, self.attend = heads, attend

        def forward(self, x):
            B, n, d = x.shape
            qkv = self.qkv(self.ln1(x)).view(B, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = (t.reshape(B * self.heads, n, d // self.heads) for t in qkv)
            att = self.attend(q, k, v).view(B, self.heads, n, -1).transpose(1, 2).reshape(B, n, d)
            x = x + self.o(att)
            return x + self.ffn(self.ln2(x))

    class Encoder(nn.Module):
        def __init__(self, n, attend, vocab=20, d=64, heads=2, f=128, layers=2, classes=10):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Parameter(torch.randn(n, d) * 0.02)
            self.blocks = nn.ModuleList(EncoderBlock(d, heads, f, attend) for _ in range(layers))
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

        def forward(self, ids):
            x = self.tok(ids) + self.pos
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x).mean(1))

    def train_step(model, inputs, loss_fn):
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(inputs)).backward()
            opt.step()
        return step

    if name == "product":
        offsets = chord_offsets(N)
        w = torch.randn(32, N, len(offsets), requires_grad=True)
        v = torch.randn(32, N, 32, requires_grad=True)
        dy = torch.randn(32, N, 32)

        def step():
            w.grad = v.grad = None
            SparseMix.apply(w, v, offsets).backward(dy)
        return step
    if name == "paramixer-step":
        inputs, target = torch.rand(32, N, 2) * 2 - 1, torch.rand(32)
        return train_step(Paramixer(N), inputs, lambda out: F.mse_loss(out, target))
    if name in ("mra", "attention"):
        def walk():
            return torch.cumsum(0.05 * torch.randn(16, N, 32), dim=1).requires_grad_()
        q, k, v = walk(), walk(), walk()
        dy = torch.randn(16, N, 32)
        attend = mra2_attention if name == "mra" else exact_attention

        def step():
            q.grad = k.grad = v.grad = None
            attend(q, k, v).backward(dy)
        return step
    if name in ("encoder-mra", "encoder-exact"):
        ids, labels = torch.randint(0, 20, (32, N)), torch.randint(0, 10, (32,))
        model = Encoder(N, mra2_attention if name == "encoder-mra" else exact_attention)
        return train_step(model, ids, lambda out: F.cross_entropy(out, labels))
    raise SystemExit(f"unknown case {name}")


def torch_worker(name, N, threads, reps):
    import torch
    torch.set_num_threads(threads)
    step = torch_workload(name, N)
    step()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"median_s": times[len(times) // 2]}))


# ----------------------------------------------------------------------------- driver

def ensure_packages():
    missing = [p for p in PACKAGES if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p],
                                                     capture_output=True, text=True).stdout.find("ok installed") < 0]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"installing {' '.join(missing)} from Debian's archive", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing, check=True, env=env)


def system_blas():
    link = "/etc/alternatives/libblas.so.3-x86_64-linux-gnu"
    return os.path.realpath(link) if os.path.exists(link) else "unknown"


def child_run(cmd, env):
    """Runs cmd as a child; returns (stdout, the child's own peak resident set in MB)."""
    out_fd, out_path = tempfile.mkstemp()
    err_fd, err_path = tempfile.mkstemp()
    pid = os.fork()
    if pid == 0:
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.execvpe(cmd[0], cmd, env)
    _, status, usage = os.wait4(pid, 0)
    os.close(out_fd)
    os.close(err_fd)
    with open(out_path) as f:
        out = f.read()
    with open(err_path) as f:
        err = f.read()
    os.unlink(out_path)
    os.unlink(err_path)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}\n{err[-2000:]}")
    return out, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="short lengths only (a smoke test of this script)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--longmix", default=os.path.join(os.path.dirname(__file__), "..", "build", "longmix"))
    ap.add_argument("--out", default="runs/compare")
    ap.add_argument("--worker", nargs=4, metavar=("CASE", "N", "THREADS", "REPS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        torch_worker(a.worker[0], int(a.worker[1]), int(a.worker[2]), int(a.worker[3]))
        return

    ensure_packages()
    threads = [int(t) for t in a.threads.split(",")]
    cases = a.cases.split(",")
    for c in cases:
        if c not in CASES:
            raise SystemExit(f"unknown case '{c}' (available: {', '.join(CASES)})")
    if not os.access(a.longmix, os.X_OK):
        raise SystemExit(f"{a.longmix} not found: build longmix first (bash .ci/setup)")
    os.makedirs(a.out, exist_ok=True)
    torch_env = dict(os.environ, GLIBC_TUNABLES=TUNABLES)
    torch_version = subprocess.run(["/usr/bin/python3", "-c", "import torch; print(torch.__version__)"],
                                   capture_output=True, text=True, env=torch_env).stdout.strip()
    print(f"PyTorch {torch_version}, system BLAS {system_blas()}, GLIBC_TUNABLES={TUNABLES}")
    extra = ", ".join(f"{c} at least {r}" for c, r in MIN_REPS.items() if c in cases)
    extra = f" ({extra})" if extra else ""
    print(f"{a.reps} repetitions after a warm-up{extra}, medians; memory is each process's peak "
          f"resident set\n", flush=True)

    rows = []
    header = f"{'workload':<15} {'N':>6} {'thr':>3} {'longmix':>10} {'PyTorch':>10} {'speedup':>8} {'longmix MB':>11} {'PyTorch MB':>11}"
    print(header)
    print("-" * len(header), flush=True)
    for case in cases:
        args, lengths, quick = CASES[case]
        reps = max(a.reps, MIN_REPS.get(case, 0))
        for N in (quick if a.quick else lengths):
            for t in threads:
                with tempfile.TemporaryDirectory() as tmp:
                    _, ours_mb = child_run([a.longmix, "scaling"] + args + [
                        "--seq-len", str(N), "--threads", str(t), "--reps", str(reps), "--probe", "false",
                        "--out", tmp], dict(os.environ))
                    with open(os.path.join(tmp, "scaling.json")) as f:
                        ours = json.load(f)["rows"][0]["median_s"]
                out, theirs_mb = child_run(["/usr/bin/python3", os.path.abspath(__file__), "--worker", case, str(N),
                                            str(t), str(reps)], torch_env)
                theirs = json.loads(out.strip().splitlines()[-1])["median_s"]
                row = {"workload": case, "N": N, "threads": t, "reps": reps, "longmix_s": ours, "pytorch_s": theirs,
                       "speedup": theirs / ours, "longmix_peak_mb": ours_mb, "pytorch_peak_mb": theirs_mb}
                rows.append(row)
                print(f"{case:<15} {N:>6} {t:>3} {ours * 1e3:>8.1f}ms {theirs * 1e3:>8.1f}ms {theirs / ours:>7.2f}x "
                      f"{ours_mb:>11.0f} {theirs_mb:>11.0f}", flush=True)
    with open(os.path.join(a.out, "compare.json"), "w") as f:
        json.dump({"pytorch": torch_version, "blas": system_blas(), "reps": a.reps, "rows": rows}, f, indent=1)
    print(f"\nwrote {os.path.join(a.out, 'compare.json')}")


if __name__ == "__main__":
    main()
