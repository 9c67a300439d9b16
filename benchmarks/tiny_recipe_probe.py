"""Probe of the tiny models' training recipe: one model, one setting, a plain training loop.

    python benchmarks/tiny_recipe_probe.py '{"model": "tan_tiny", "steps": 400, "T": 16, "crop": [1, 1], "resize": 64}' \
        [--data runs/convergence/default/seed_0/data]

The JSON argument: ``model`` (registered name), ``steps``, ``lr`` (2e-3), ``B`` (batch, 8), ``T``
(clip frames, 32), ``crop`` (random-crop area range, [0.64, 1]; [1, 1] with ``resize`` 64 is no
crop), ``resize``, ``pool`` (the tiny models' stem max-pool, true), ``margs`` (builder
arguments, e.g. ``{"ta_norm": false}``), ``gate_mult`` (learning-rate factor of the TA modules'
BatchNorm), ``seed``. Adam with a 5% warm-up and cosine decay (tan_video.training.LRSchedule),
clips from tan_video.data.ClipDataset, whole test videos scored with the library's metrics; prints
one ``RESULT`` line (frame mAP and the group means). This is how the README's recipe table
was measured, before the demo's defaults were fixed; the demo itself trains through Lightning.
"""
import argparse
import time, json
import numpy as np
import torch
import tan_video as tv
import tan_video.models.tan as T
from tan_video.data import annotations as A
from tan_video.data.datasets import ClipDataset, VideoDataset
from tan_video.data.transforms import normalize
from tan_video.evaluation import VideoPrediction, compute_metrics
from tan_video.inference import predict_logits
from tan_video.training import LRSchedule
torch.set_flush_denormal(True)
cli = argparse.ArgumentParser(description="tiny-model recipe probe")
cli.add_argument("settings", help="JSON settings (see the module docstring)")
cli.add_argument("--data", default="runs/convergence/default/seed_0/data", help="a generated demo benchmark")
opts = cli.parse_args()
args = json.loads(opts.settings)
T.TINY_SHAPE["stem_pool"] = args.get("pool", True)
root = opts.data
classes = A.read_class_names(root + "/classes.txt")
anns = list(A.read_annotations(root + "/annotations.json", format="dense_json", classes=classes))
train = [a for a in anns if a.subset == "training"]; test = [a for a in anns if a.subset == "testing"]
K = len(classes)
crop = args.get("crop", [0.64, 1.0])
ds = ClipDataset(train, root + "/videos", K, fps=8, clip_frames=args.get("T", 32), size=64, resize=args.get("resize"), cache=True, flip=True,
                 **({} if crop is None else {"crop_scale": tuple(crop)}))
torch.manual_seed(args.get("seed", 0))
dl = torch.utils.data.DataLoader(ds, batch_size=args.get("B", 8), shuffle=True, drop_last=True, num_workers=1, persistent_workers=True)
model = tv.create_model(args["model"], num_classes=K, **args.get("margs", {}))
model = model.to(memory_format=model.memory_format)
steps = args["steps"]; lr = args.get("lr", 2e-3)
mult = args.get("gate_mult", 1.0)
gate = [p for ta in model.temporal_modules() if ta.bn is not None for p in ta.bn.parameters()]
ids = {id(p) for p in gate}
rest = [p for p in model.parameters() if id(p) not in ids]
opt = torch.optim.Adam([{"params": rest, "lr": lr}] + ([{"params": gate, "lr": lr * mult}] if gate else []), lr=lr, weight_decay=args.get("wd", 0))
sched = torch.optim.lr_scheduler.LambdaLR(opt, LRSchedule(steps, warmup=round(0.05 * steps), kind="cosine"))
step = 0; t0 = time.time(); losses = []
while step < steps:
    for b in dl:
        model.train()
        logits = model(normalize(b["clip"]))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), b["targets"].float())
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); step += 1
        losses.append(loss.item())
        if step % 50 == 0: print(step, "loss %.3f" % np.mean(losses[-50:]), "%.0fs" % (time.time() - t0), flush=True)
        if step >= steps: break
train_s = time.time() - t0
model.eval(); tds = VideoDataset(test, root + "/videos", K, fps=8, size=64, resize=args.get("resize"))
preds = []
with torch.no_grad():
    for i in range(len(tds)):
        it = tds[i]; lg = predict_logits(model, it["frames"])
        preds.append(VideoPrediction(it["annotation"], it["times"].numpy(), torch.sigmoid(lg).numpy()))
m = compute_metrics(preds, classes)
from tan_video.demo import group_means
from tan_video.data import synthetic
g = group_means(m["per_class_ap"], {c.name: c.group for c in synthetic.CLASSES})
print("RESULT", json.dumps(args), "frame %.3f" % m["frame_map"], {a: round(b, 2) for a, b in g.items()}, "train %.0fs" % train_s, flush=True)
