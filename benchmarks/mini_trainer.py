"""A minimal from-scratch trainer (no Lightning) on the demo benchmark's decoded frames: fast recipe probes.

    python benchmarks/mini_trainer.py --data runs/convergence/default/seed_0/data --steps 576 --posw 0.5

Decodes the benchmark's videos (labels from its annotations.json through the project's reader) once into
``runs/mini_cache``, trains one model with a plain Adam + warm-up + cosine loop on random clips
(bf16 autocast by default) and prints one ``RESULT`` line: frame mAP and per-class AP on the test
videos, each scored in one pass. Its defaults are the demo's (576 steps of 8 x 16 frames, lr 2e-3,
flips): it reproduces the demo's TAN (62.6 / 89.6 at 1x / 3x vs the demo's 61.1 / 88.7, seed 0).
``--posw P`` weights positives by ``(negatives / positives) ** P`` per class
(docs/benchmark.md, "Probes with a minimal trainer").
"""
import argparse, json, time
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from tan_video.data.video import read_video
from tan_video.data.annotations import dense_targets, read_annotations
from tan_video.data.transforms import normalize
from tan_video.models import create_model
from tan_video.metrics import frame_map
from tan_video.training import LRSchedule

p = argparse.ArgumentParser()
p.add_argument("--data", default="runs/convergence/default/seed_0/data")
p.add_argument("--dseed", type=int, default=0)
p.add_argument("--model", default="tan_tiny"); p.add_argument("--margs", default="{}")
p.add_argument("--steps", type=int, default=576); p.add_argument("--B", type=int, default=8)
p.add_argument("--T", type=int, default=16); p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--warmup", type=float, default=0.05); p.add_argument("--size", type=int, default=48)
p.add_argument("--posw", type=float, default=0.0, help="pos_weight = (neg/pos)**posw")
p.add_argument("--drop", type=float, default=None); p.add_argument("--bf16", type=int, default=1)
p.add_argument("--seed", type=int, default=0); p.add_argument("--flip", type=int, default=1)
p.add_argument("--evals", type=int, default=1); p.add_argument("--wd", type=float, default=0.0)
p.add_argument("--opt", default="adam"); p.add_argument("--tag", default="")
p.add_argument("--valid", type=int, default=0, help="loss only on the frames R or more from a clip's ends")
a = p.parse_args()
cache = Path(f"runs/mini_cache/frames_{a.dseed}_{a.size}.npz")
cache.parent.mkdir(parents=True, exist_ok=True)
if cache.is_file():
    z = np.load(cache); X, Y, XT, YT = z["X"], z["Y"], z["XT"], z["YT"]
else:
    names = (Path(a.data) / "classes.txt").read_text().split()
    anns = read_annotations(Path(a.data) / "annotations.json", "dense_json", classes=names)
    def load(subset):
        xs, ys = [], []
        for ann in (v for v in anns if v.subset == subset):
            f, times = read_video(Path(a.data) / "videos" / f"{ann.video_id}.mp4", fps=8.0,
                                  short_side=a.size if a.size != 48 else None)
            xs.append(f[:64]); ys.append(dense_targets(ann, times[:64], len(names)))
        return np.stack(xs), np.stack(ys)
    X, Y = load("training"); XT, YT = load("testing")
    np.savez(cache, X=X, Y=Y, XT=XT, YT=YT)
torch.manual_seed(a.seed); rng = np.random.default_rng(a.seed)
K = Y.shape[-1]
margs = json.loads(a.margs)
if a.drop is not None: margs["drop_rate"] = a.drop
model = create_model(a.model, num_classes=K, **margs)
pos = Y.reshape(-1, K).mean(0)
pw = torch.tensor(((1 - pos) / pos) ** a.posw, dtype=torch.float32) if a.posw else None
opt = (torch.optim.Adam if a.opt == "adam" else torch.optim.AdamW)(model.parameters(), lr=a.lr, weight_decay=a.wd)
wu = round(a.warmup * a.steps)
sched = torch.optim.lr_scheduler.LambdaLR(opt, LRSchedule(a.steps, warmup=wu, kind="cosine"))
Xt = torch.from_numpy(X); Yt = torch.from_numpy(Y).float()
def evaluate():
    model.eval(); out = []
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bool(a.bf16)):
        for i in range(0, len(XT), 16):
            x = normalize(torch.from_numpy(XT[i:i+16]).permute(0, 4, 1, 2, 3))
            out.append(model(x).float().numpy())
    model.train()
    s = np.concatenate(out).reshape(-1, K); r = frame_map(s, YT.reshape(-1, K))
    return r
t0 = time.time(); hist = []
order = []
for step in range(a.steps):
    if not order: order = list(rng.permutation(len(X)))
    idx = [order.pop() for _ in range(min(a.B, len(order)))]
    starts = rng.integers(0, 64 - a.T + 1, len(idx))
    clip = torch.stack([Xt[i, s:s + a.T] for i, s in zip(idx, starts)])  # B T H W 3
    tgt = torch.stack([Yt[i, s:s + a.T] for i, s in zip(idx, starts)])
    if a.flip:
        fl = torch.from_numpy(rng.random(len(idx)) < 0.5)
        clip = torch.where(fl.view(-1, 1, 1, 1, 1), clip.flip(3), clip)
    x = normalize(clip.permute(0, 4, 1, 2, 3))
    with torch.autocast("cpu", torch.bfloat16, enabled=bool(a.bf16)):
        logits = model(x).float()
    if a.valid:  # the frames whose +-R context lies inside the clip (no padding in their receptive field)
        logits, tgt = logits[:, a.valid:a.T - a.valid], tgt[:, a.valid:a.T - a.valid]
    loss = F.binary_cross_entropy_with_logits(logits, tgt, pos_weight=pw)
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()
    if a.evals > 1 and (step + 1) % (a.steps // a.evals) == 0 and step + 1 < a.steps:
        r = evaluate(); hist.append((step + 1, round(100 * r[0], 1)))
train_s = time.time() - t0
r = evaluate()
names = ["red", "green", "blue", "yellow", "flash", "blip", "fblink", "fside", "sside", "beacon", "swap"]
print("RESULT", a.tag, json.dumps({k: v for k, v in vars(a).items() if k not in ("data",)}), f"mAP {100*r[0]:.1f}",
      {n: round(100 * v) for n, v in zip(names, r[1])}, f"train {train_s:.0f}s", hist, flush=True)
