"""The benchmark's classes (what each shows, and the temporal context it needs) and their look.

Class id = position in :data:`CLASSES`. The look constants (colours, lamp shades, the flash
strength, how often a class occurs, the periods of the *long* classes) are shared by the
painters (:mod:`.painters`).
"""

from __future__ import annotations

from dataclasses import dataclass

GROUPS: tuple[str, ...] = ("appearance", "short", "motion", "long")


@dataclass(frozen=True)
class SyntheticClass:
    """One class of the benchmark.

    group: one of :data:`GROUPS`.
    definition: what is on screen while the label is on.
    temporal_scale: the temporal context a model needs, in words.
    context_frames: the same as a number: frames each side of the labelled frame that must be
        seen (0: the frame alone suffices).
    """

    name: str
    group: str
    definition: str
    temporal_scale: str
    context_frames: int


CLASSES: tuple[SyntheticClass, ...] = (
    SyntheticClass("red_square", "appearance", "a red square is visible (other shapes in red, and squares in other "
                   "colours, are distractors)", "one frame", 0),
    SyntheticClass("green_disc", "appearance", "a green disc is visible", "one frame", 0),
    SyntheticClass("blue_cross", "appearance", "a blue cross is visible", "one frame", 0),
    SyntheticClass("yellow_triangle", "appearance", "a yellow triangle is visible", "one frame", 0),
    SyntheticClass("flash", "short", "the whole frame is brighter for exactly one frame (slow fades to the same "
                   "brightness are distractors)", "1 frame, +-1 to tell from a fade", 1),
    SyntheticClass("blip", "short", "a magenta disc is visible; it stays 1 or 2 frames", "1-2 frames", 0),
    SyntheticClass("fast_blink", "short", "the orange lamp toggles on/off every frame (a steadily lit lamp is a "
                   "distractor)", "+-1 frame at full frame rate", 1),
    SyntheticClass("fast_sideways", "motion", "a white square slides sideways at 2.5-4 px/frame (at 64 px), "
                   "bouncing off the borders", "+-2 frames", 2),
    SyntheticClass("slow_sideways", "motion", "a white square slides sideways at 0.5-1 px/frame (at 64 px), "
                   "bouncing off the borders", "+-4 frames", 4),
    SyntheticClass("periodic_beacon", "long", "the cyan lamp lights for one frame every 7-9 frames; on from the "
                   "first to the last pulse of the train (isolated pulses are distractors)", "+-9 frames", 9),
    SyntheticClass("periodic_swap", "long", "the outlined tile swaps colour (pink/purple) every 7-9 frames, "
                   "filled for the one frame of each swap; on from the first to the last swap (a single swap "
                   "is a distractor)", "+-9 frames", 9),
)
"""The classes, in index order (class id = position)."""

CLASS_INDEX: dict[str, int] = {c.name: i for i, c in enumerate(CLASSES)}

# -- look (shared by the painters) -----------------------------------------------------------------
COLOURS = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40),
    "white": (240, 240, 240), "magenta": (225, 40, 225), "cyan": (30, 225, 235), "orange": (250, 140, 20),
    "pink": (250, 160, 200), "purple": (130, 60, 200),
}
APPEARANCE = {"red_square": ("red", "square"), "green_disc": ("green", "disc"),
              "blue_cross": ("blue", "cross"), "yellow_triangle": ("yellow", "triangle")}
APPEARANCE_DISTRACTORS = [(c, s) for c in ("red", "green", "blue", "yellow")
                          for s in ("square", "disc", "cross", "triangle") if (c, s) not in APPEARANCE.values()]
LAMP_OFF, LAMP_RIM = (55, 55, 55), (120, 120, 120)
FLASH = 70.0  # added to every pixel for one frame (and the peak of a distractor fade)

CLASS_PROB = 0.4  # each class occurs in a video with this probability, independently
PERIOD = (7, 9)  # frames between periodic events; a frame inside a train needs a reach of up to 9 frames to
# see an event on each side: beyond four undilated TA modules' +-4, inside the dilated TAN's +-12 with room
ISOLATED_GAP = 25  # an isolated event is this far from any other: no +-12 window holds both
