"""The built-in synthetic benchmark: dense multi-label videos whose classes need known temporal scales.

No public video dataset can be downloaded where this project is built and tested, so the CPU
demo (README, "The demo") trains on videos generated here. They are real H.264 files in a
real annotation format (dense JSON), read back through the same decoding and dataset code as
Charades or MultiTHUMOS.

Each class needs a known amount of temporal context, so the paper's claims become measurable:

========== ============================================================= ==================
group      what a model must see                                         context (frames)
========== ============================================================= ==================
appearance a coloured shape (>= 6 px, so one frame shows its shape)      0: one frame
short      1-2 frame events and every-frame blinking                     0-1 at full rate
motion     direction / speed of a sprite that looks the same either way  +-2..4
long       events every 7-9 frames, versus the same event in isolation   +-9 (two events)
========== ============================================================= ==================

- A per-frame (2D) model solves *appearance* and the per-frame *short* classes, not *motion*.
- A model with temporal stride loses the 1-frame *short* events and the frame-rate blinking.
- The *long* classes are designed so that a frame inside an episode needs up to +-9 frames of
  context to see an event on each side (gaps of 7-9 frames): beyond the +-4 frames of four
  undilated TA modules for most frames, inside the +-12 of the dilated ones with room to spare
  (the outermost taps of a receptive field carry little weight at the start of training).
  Distractor events of the same look are isolated (>= 25 frames from any other), so only a
  model that sees two events can tell "periodic" from "isolated". (A smooth sinusoid would
  not do: a +-4 window sees its slope.)

Every class occurs in a random subset of the videos (so video-level mAP does not saturate),
actions overlap (about two labels per frame on average), durations range from 1 frame to the
whole video, and distractors (same shapes in other colours, gray clutter, static look-alikes
of the moving sprites, brightness fades, steady lamps, isolated pulses) keep every class from
being solvable by a cue other than its definition. The classes are invariant to horizontal
flips (the motion classes slide sideways in either direction) and sprites keep away
from the borders, so the training crops and flips of :class:`~tan_video.data.datasets.ClipDataset`
rarely change a label.

Where things are: the classes and their look in :mod:`.classes`; the drawing primitives and
the scene of one video in :mod:`.canvas`; one painter per class group in :mod:`.painters`;
:func:`render_video` (:mod:`.render`), a pure function (an RNG in; frames, frame labels and
segments out); and the writer (:mod:`.writer`, the only part that needs PyAV):
:func:`generate` writes a dataset: ``videos/<id>.mp4`` (H.264, yuv420p, CRF 17, encoded at the
benchmark's fps so that sampling at that fps returns every frame), ``annotations.json``
(dense JSON, class ids 0-based, subsets "training"/"testing"), ``classes.txt`` and ``meta.json``.
Everything is a function of the seed, the encoded bytes included (x264 runs single-threaded
and without macroblock-tree rate control, which measured non-deterministic).
"""

from .classes import CLASS_INDEX, CLASSES, GROUPS, SyntheticClass
from .render import GENERATOR_VERSION, RenderedVideo, labels_to_segments, render_video

_WRITER = ("DEFAULT_CRF", "SyntheticInfo", "generate", "write_video")  # PyAV: imported on first use

__all__ = ["CLASSES", "CLASS_INDEX", "GROUPS", "GENERATOR_VERSION", "DEFAULT_CRF", "SyntheticClass", "SyntheticInfo",
           "RenderedVideo", "render_video", "labels_to_segments", "write_video", "generate"]


def __getattr__(name: str):
    if name not in _WRITER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import writer

    value = getattr(writer, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WRITER))
