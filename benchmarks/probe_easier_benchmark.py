"""Probe: the benchmark with bigger sprites and faster slow motion, generated without changing the package.

    python benchmarks/probe_easier_benchmark.py runs/probe_v6 --sprite 12 --slow 1.0,1.5
    python benchmarks/mini_trainer.py --data runs/probe_v6 --dseed 61 --posw 0.5 --steps 576   # and 1728

``--sprite S``: the appearance and moving sprites are ``round(S * size / 64)`` px (version 5: 9);
``--slow LO,HI``: ``slow_sideways`` speed in px/frame at 64 px (version 5: 0.5,1.0); ``--lamp L``:
the lamps (blink, beacon) and the swapping tile are ``round(L * size / 64)`` px (version 5: 10). Everything
else is the demo's benchmark (384 + 128 videos of 64 frames, 48 px, 8 FPS, seed 0). Result and
reading: docs/benchmark.md, "An easier benchmark, probed". (``--dseed`` names mini_trainer's
frame cache: give each probe's data its own.)
"""
import argparse
import inspect

from tan_video.data.synthetic import canvas, generate, painters

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("out")
p.add_argument("--sprite", type=float, default=12.0)
p.add_argument("--slow", default="1.0,1.5")
p.add_argument("--lamp", type=float, default=10.0)
a = p.parse_args()
slow = tuple(float(v) for v in a.slow.split(","))

original = canvas.Scene.__init__


def scene_init(self, *args, **kwargs):
    original(self, *args, **kwargs)
    self.sprite = max(6, round(a.sprite * self.u))
    self.lamp_d, self.tile_d = max(6, round(a.lamp * self.u)), max(7, round(a.lamp * self.u))


canvas.Scene.__init__ = scene_init
source = inspect.getsource(painters.paint_motion)
assert "(0.5, 1.0)" in source, "paint_motion changed: update this probe"
namespace = dict(vars(painters))
exec(source.replace("(0.5, 1.0)", repr(slow)), namespace)
painters.paint_motion = namespace["paint_motion"]  # (generation forks its workers: they inherit both)
print(generate(a.out, num_train=384, num_test=128, frames=64, size=48, fps=8.0, seed=0, force=True))
