#!/usr/bin/python3
"""Strong and weak scaling of data-parallel training over MPI ranks, compute apart from
communication.

Strong scaling keeps the global batch (--batch) and splits it over 1, 2, ... ranks; weak
scaling keeps the batch per rank and grows the global batch with the ranks. Each run is
`mpirun -np K longmix train ...` for --steps steps; the table gives sequences/s over the steps
after the first log interval (warm-up excluded), the seconds spent in the gradient
all-reduces, and the share of the run they took.

usage: /usr/bin/python3 bench/mpi_scaling.py [--ranks 1,2] [--threads-per-rank 1] [--batch 32]
           [--steps 40] [--hostfile FILE] [-- extra longmix train flags]
On a cluster, pass --hostfile (OpenMPI's format: one "host slots=N" line per machine).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def run(longmix, ranks, threads, batch, steps, hostfile, extra):
    out = tempfile.mkdtemp(prefix="longmix_mpi_")
    cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", "--mca", "btl_vader_single_copy_mechanism", "none"]
    if hostfile:
        cmd += ["--hostfile", hostfile]
    cmd += [longmix, "train", "--batch", str(batch), "--steps", str(steps), "--threads", str(threads),
            "--log-every", str(max(1, steps // 4)), "--eval-every", "0", "--out", out] + extra
    env = dict(os.environ)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    train = [r for r in records if r["split"] == "train"]
    test = [r for r in records if r["split"] == "test"][-1]
    seq_per_s = sum(r["seq_per_s"] for r in train[1:]) / max(1, len(train) - 1)  # the first window warms up
    return seq_per_s, test.get("communication_s", 0.0), test["elapsed_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--threads-per-rank", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32, help="strong scaling's global batch; weak scaling's per rank is batch / first rank count")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--hostfile")
    ap.add_argument("--longmix", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "longmix"))
    ap.add_argument("extra", nargs="*", help="longmix train flags (default: Paramixer on adding, N = 1024)")
    a = ap.parse_args()
    extra = a.extra or ["--model", "paramixer", "--task", "adding", "--seq-len", "1024"]
    ranks = [int(r) for r in a.ranks.split(",")]
    print(f"longmix train {' '.join(extra)}; {a.threads_per_rank} thread(s) per rank, {a.steps} steps")
    print(f"{'scaling':<8} {'ranks':>5} {'global batch':>12} {'seq/s':>9} {'speedup':>8} {'comm s':>8} {'comm share':>10}")
    for kind in ("strong", "weak"):
        base = None
        for k in ranks:
            batch = a.batch if kind == "strong" else a.batch // ranks[0] * k
            seq_per_s, comm_s, elapsed = run(a.longmix, k, a.threads_per_rank, batch, a.steps, a.hostfile, extra)
            base = base or seq_per_s
            print(f"{kind:<8} {k:>5} {batch:>12} {seq_per_s:>9.1f} {seq_per_s / base:>7.2f}x {comm_s:>8.2f} "
                  f"{100 * comm_s / elapsed:>9.1f}%", flush=True)


if __name__ == "__main__":
    main()
