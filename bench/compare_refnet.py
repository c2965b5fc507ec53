"""Side-by-side refnet benchmark: hwnas's trainer against PyTorch, interleaved (A B A B) on
this machine, each measurement a fresh process. Prints the median of each figure over the
rounds, its spread (min..max), and the hwnas/PyTorch ratio with the issue's target.

Usage: /usr/bin/python3 bench/compare_refnet.py [--rounds 5] [--threads 2] [--steps 60] [--build build]
Needs: the build's bin/refnet_bench, and python3-torch (./scripts/install-deps.sh --bench).
"""
import argparse, os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    vals = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                vals[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    ours = os.path.join(a.build, "bin", "refnet_bench")
    if not os.path.exists(ours):
        sys.exit(f"compare_refnet: {ours} not found; build first (cmake --build build --target refnet_bench)")
    torch_script = os.path.join(HERE, "refnet_torch.py")
    t = ["--threads", str(a.threads)]
    samples = {"hwnas": {}, "pytorch": {}}
    for r in range(a.rounds):
        for who, cmd in (("hwnas", [ours]), ("pytorch", ["/usr/bin/python3", torch_script])):
            for mode, extra in (("train", ["--steps", str(a.steps)]), ("infer", [])):
                for k, v in run(cmd + [mode] + t + extra).items():
                    samples[who].setdefault(k, []).append(v)
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    # (key, label, higher is better, target ratio hwnas/pytorch)
    rows = [("train_img_per_s", "training img/s (batch 128)", True, ">= 1.5"),
            ("infer_b1_ms", "batch-1 inference ms", False, "<= 0.25"),
            ("infer_b64_img_per_s", "batch-64 inference img/s", True, ">= 1.2"),
            ("peak_rss_mb", "peak RSS while training, MB", False, "<= 0.5")]
    print(f"refnet, {a.threads} threads, median of {a.rounds} interleaved rounds (min..max)")
    for key, label, _, target in rows:
        h, p = samples["hwnas"][key], samples["pytorch"][key]
        mh, mp = statistics.median(h), statistics.median(p)
        print(f"  {label:32s} hwnas {mh:9.3f} ({min(h):.3f}..{max(h):.3f})  pytorch {mp:9.3f} "
              f"({min(p):.3f}..{max(p):.3f})  ratio {mh / mp:6.3f}  target {target}")


if __name__ == "__main__":
    main()
