"""PyTorch side of the refnet comparison (bench/compare_refnet.py runs it beside hwnas).

The network is the reference MobileNetV2-style net for 1x28x28 inputs (136,570 parameters),
written out here so bench/ needs nothing outside the project. The recipe is the anchor's:
batch 128, SGD Nesterov momentum 0.9, lr 0.1 cosine per step, weight decay 4e-5, no augmentation.

Usage: /usr/bin/python3 bench/refnet_torch.py MODE [--threads T] [--steps S] [--epochs E] [--seed N] [--data-dir D]
  MODE train    time training steps at batch 128; prints train_img_per_s and peak_rss_mb
  MODE infer    prints infer_b1_ms and infer_b64_img_per_s (eval mode, no grad)
  MODE accuracy trains E epochs and prints test_acc
Output: one `key value` per line.
"""
import argparse, gzip, os, resource, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.b = nn.Sequential(*conv_bn(cin, hidden, 1), *conv_bn(hidden, hidden, k, stride, hidden),
                               *conv_bn(hidden, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.b(x)
        return x + y if self.residual else y


def build_refnet():
    layers = conv_bn(1, 16, 3)
    cin = 16
    for cout, k, stride in [(24, 3, 2), (24, 3, 1), (40, 5, 2), (40, 5, 1), (80, 3, 2), (80, 3, 1)]:
        layers.append(InvertedResidual(cin, cout, k, stride, 4))
        cin = cout
    layers += conv_bn(80, 256, 1) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, rows, cols)
    return np.frombuffer(raw, np.uint8, offset=8)


def load(data_dir, split):
    x = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    x = (torch.tensor(x, dtype=torch.float32) / 255.0 - 0.2860) / 0.3530
    return x, torch.tensor(y, dtype=torch.long)


def train(model, xtr, ytr, steps, timed_from=5):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    t0, seen = time.perf_counter(), 0
    for i in range(steps):
        idx = torch.randint(0, xtr.shape[0], (128,))
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        seen += 128
        if i + 1 == timed_from:
            t0, seen = time.perf_counter(), 0
    return seen / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "infer", "accuracy"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--epochs", type=float, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = build_refnet()
    assert sum(p.numel() for p in model.parameters()) == 136570
    if a.mode == "train":
        xtr, ytr = load(a.data_dir, "train")
        print(f"train_img_per_s {train(model, xtr, ytr, a.steps):.1f}")
        print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    elif a.mode == "infer":
        model.eval()
        x = torch.randn(64, 1, 28, 28)
        with torch.no_grad():
            for _ in range(20):
                model(x[:1])
            n = 300
            t0 = time.perf_counter()
            for _ in range(n):
                model(x[:1])
            print(f"infer_b1_ms {(time.perf_counter() - t0) / n * 1e3:.4f}")
            for _ in range(5):
                model(x)
            n = 40
            t0 = time.perf_counter()
            for _ in range(n):
                model(x)
            print(f"infer_b64_img_per_s {64 * n / (time.perf_counter() - t0):.1f}")
    else:
        xtr, ytr = load(a.data_dir, "train")
        xte, yte = load(a.data_dir, "t10k")
        steps = int(a.epochs * xtr.shape[0] / 128)
        train(model, xtr, ytr, steps)
        model.eval()
        with torch.no_grad():
            correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                          for i in range(0, xte.shape[0], 1000))
        print(f"test_acc {correct / xte.shape[0]:.4f}")


if __name__ == "__main__":
    sys.exit(main())
