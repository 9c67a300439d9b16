"""The painters: one section per class group, each drawing its classes and their distractors.

Each painter takes the :class:`~.canvas.Scene` of the video being rendered, draws on it, sets
its labels and records what it drew in ``scene.events``. :func:`.render.render_video` calls
them in a fixed order, which is both the layering (what is drawn over what) and the order of
the random draws; changing it changes every video (bump ``GENERATOR_VERSION`` then).
"""

from __future__ import annotations

import numpy as np

from .canvas import Scene, isolated_events, paint, periodic_train, segment, shape_mask
from .classes import APPEARANCE, APPEARANCE_DISTRACTORS, COLOURS, FLASH, LAMP_OFF, LAMP_RIM

# -- motion: identical white squares moving up / down / sideways fast / slowly; static twins ----


def paint_motion(scene: Scene) -> None:
    """The motion classes and their static look-alikes.

    Drawn first, under every static object: their evidence is in every frame and survives a few
    occluded frames, while a hidden periodic event or sprite would change what a frame shows
    about its label.
    """
    rng, u = scene.rng, scene.u
    for name, speeds in (("fast_sideways", (2.5, 4.0)), ("slow_sideways", (0.5, 1.0))):
        if scene.on(name):
            v = float(rng.uniform(*speeds)) * u * (1 if rng.random() < 0.5 else -1)
            t0, t1 = segment(rng, scene.frames, 6, scene.frames)
            _mover(scene, name, v, t0, t1)
    if scene.distractors:
        for _ in range(int(rng.integers(0, 3))):
            t0, t1 = segment(rng, scene.frames, 4, scene.frames)
            _mover(scene, None, 0.0, t0, t1)


def _mover(scene: Scene, cls_name: str | None, vx: float, t0: int, t1: int) -> None:
    """A white square over frames ``[t0, t1)``, sliding sideways at ``vx`` and bouncing off the
    margins, or static (``vx`` 0); labelled ``cls_name`` unless None."""
    rng, n = scene.rng, t1 - t0
    lo, hi = float(scene.margin), float(scene.size - scene.margin - scene.sprite)
    ys = np.full(n, float(rng.uniform(lo, hi)))
    x, v, path = float(rng.uniform(lo, hi)), vx, []
    for _ in range(n):
        path.append(x)
        x += v
        if not lo <= x <= hi:  # bounce: reflect the overshoot
            x = 2 * (lo if x < lo else hi) - x
            v = -v
    xs = np.asarray(path)
    square = shape_mask("square", scene.sprite)
    for i, t in enumerate(range(t0, t1)):
        paint(scene.video[t], square, ys[i], xs[i], COLOURS["white"])
    if cls_name is not None:
        scene.label(cls_name, t0, t1)
    scene.events["movers"].append({"class": cls_name, "frames": [t0, t1], "ys": ys.tolist(), "xs": xs.tolist(),
                                   "d": scene.sprite})


# -- the two lamps (short: blink; long: beacon) ----------------------------------------------


def place_lamps(scene: Scene) -> None:
    """The orange (blink) and cyan (beacon) lamps: always present, off, so that their presence
    says nothing; :func:`paint_blink` and :func:`paint_beacon` light them."""
    d = scene.lamp_d
    housing = np.ones((d, d), bool)
    for name in ("beacon", "blink"):
        pos = scene.layout.place(d, gap=3, force=True)
        scene.lamps[name] = pos
        scene.paint_range(housing, *pos, LAMP_RIM, 0, scene.frames)
        scene.paint_range(housing[1:-1, 1:-1], pos[0] + 1, pos[1] + 1, LAMP_OFF, 0, scene.frames)


def _light(scene: Scene, name: str, colour, t: int) -> None:
    y, x = scene.lamps[name]
    paint(scene.video[t], np.ones((scene.lamp_d - 2, scene.lamp_d - 2), bool), y + 1, x + 1, colour)


# -- long: the colour-swapping tile, the beacon -------------------------------------------------


def long_changes(scene: Scene, cls_name: str) -> tuple[list[int], int, int] | None:
    """Periodic changes (the class) or isolated ones (the distractor) of the tile,
    and the frames ``[t0, t1)`` it is visible; None when the video does not show it."""
    rng, frames = scene.rng, scene.frames
    # A change needs a frame before it to be visible: changes start at frame 1.
    if scene.on(cls_name):
        changes = periodic_train(rng, frames, earliest=1)
        if changes:
            scene.label(cls_name, changes[0], changes[-1] + 1)
        extra = int(rng.integers(0, 2)) if scene.distractors else 0
        changes = changes + isolated_events(rng, frames, changes, extra, earliest=1)
    elif scene.maybe(0.6):
        changes = isolated_events(rng, frames, [], int(rng.integers(1, 3)), earliest=1)
    else:
        return None
    changes = sorted(changes)
    # visible from a little before the first change to a little after the last one (or
    # longer), so that the object's presence alone predicts nothing
    t0 = max(0, changes[0] - int(rng.integers(2, 16))) if changes else 0
    t1 = min(frames, changes[-1] + int(rng.integers(2, 16))) if changes else frames
    scene.events[cls_name] = {"changes": changes, "visible": [t0, t1]}
    return changes, t0, t1


def paint_tile(scene: Scene, pos: tuple[int, int], changes: list[int], t0: int, t1: int) -> None:
    """The outlined tile at ``pos``, swapping pink/purple at ``changes``; at a change it is drawn
    filled for that one frame (the mark).

    Without the mark (benchmark v4) a swap is only a difference between two frames, and the class
    needs two of them 7-9 frames apart: no model learned it (best AP 0.44 at 3x the demo's
    training; docs/benchmark.md). With it, each swap is visible in one frame, as a beacon pulse is,
    and the class asks what the beacon asks: events seen on both sides, up to 9 frames away.
    """
    outline, filled = shape_mask("outline", scene.tile_d), np.ones((scene.tile_d, scene.tile_d), bool)
    state = int(scene.rng.integers(2))
    scene.events["periodic_swap"]["box"] = [*pos, scene.tile_d]
    for t in range(t0, t1):
        if t in changes:
            state = 1 - state
        paint(scene.video[t], filled if t in changes else outline, *pos, COLOURS["pink" if state else "purple"])


def paint_beacon(scene: Scene) -> None:
    """The cyan beacon: a periodic pulse train (the class) and isolated pulses (distractor)."""
    rng, pulses = scene.rng, []
    if scene.on("periodic_beacon"):
        pulses = periodic_train(rng, scene.frames)
        if pulses:
            scene.label("periodic_beacon", pulses[0], pulses[-1] + 1)
    if scene.maybe(0.6):
        pulses = pulses + isolated_events(rng, scene.frames, pulses, int(rng.integers(1, 3)))
    for t in pulses:
        _light(scene, "beacon", COLOURS["cyan"], t)
    scene.events["beacon"] = {"box": [*scene.lamps["beacon"], scene.lamp_d], "on": sorted(pulses)}


# -- appearance: static coloured shapes; class combinations and distractor combinations ----------


def paint_appearance(scene: Scene) -> None:
    """One or two sprites per appearance class, and up to three wrong colour/shape pairs."""
    rng = scene.rng
    for name, (colour_name, shape) in APPEARANCE.items():
        if scene.on(name):
            for _ in range(int(rng.integers(1, 3))):
                _static_sprite(scene, colour_name, shape, name, 4, scene.frames)
    if scene.distractors:
        for _ in range(int(rng.integers(0, 4))):
            colour_name, shape = APPEARANCE_DISTRACTORS[int(rng.integers(len(APPEARANCE_DISTRACTORS)))]
            _static_sprite(scene, colour_name, shape, None, 4, scene.frames)


def _static_sprite(scene: Scene, colour_name: str, shape: str, cls_name: str | None, lo: int, hi: int) -> None:
    pos = scene.layout.place(scene.sprite)
    if pos is None:
        return
    t0, t1 = segment(scene.rng, scene.frames, lo, hi)
    scene.paint_range(shape_mask(shape, scene.sprite), *pos, COLOURS[colour_name], t0, t1)
    if cls_name is not None:
        scene.label(cls_name, t0, t1)


def paint_clutter(scene: Scene) -> None:
    """Gray clutter: every shape, neutral colour, static for the whole video.

    Placed after every labelled static object and only where there is room, so that it never
    crowds out an object that carries a label.
    """
    if not scene.distractors:
        return
    rng, u = scene.rng, scene.u
    for _ in range(int(rng.integers(2, 5))):
        d = int(rng.integers(max(5, round(5 * u)), max(5, round(9 * u)) + 1))
        pos = scene.layout.place(d)
        if pos is not None:
            grey = float(rng.uniform(85, 140))
            shape = str(rng.choice(["square", "disc", "cross", "triangle", "ring"]))
            scene.paint_range(shape_mask(shape, d), *pos, (grey, grey, grey), 0, scene.frames)


# -- short: the blinking lamp, blips, flashes ---------------------------------------------------


def paint_blink(scene: Scene) -> None:
    """The orange lamp toggling every frame (the class) or steadily lit (distractor)."""
    rng, frames = scene.rng, scene.frames
    blink_on: list[int] = []
    busy = np.zeros(frames, bool)
    if scene.on("fast_blink"):
        for _ in range(int(rng.integers(1, 3))):
            length = 2 * int(rng.integers(2, 7)) + 1  # odd: starts and ends lit, 5..13 frames
            t0 = int(rng.integers(0, max(1, frames - length + 1)))
            t1 = min(frames, t0 + length)
            if busy[max(0, t0 - 2):t1 + 2].any():
                continue  # keep runs apart so they never merge into one pattern
            busy[t0:t1] = True
            scene.label("fast_blink", t0, t1)
            blink_on += list(range(t0, t1, 2))
    if scene.maybe(0.4):
        t0, t1 = segment(rng, frames, 3, 16)
        if not busy[max(0, t0 - 2):t1 + 2].any():
            busy[t0:t1] = True
            blink_on += list(range(t0, t1))
    for t in blink_on:
        _light(scene, "blink", COLOURS["orange"], t)
    scene.events["blink"] = {"box": [*scene.lamps["blink"], scene.lamp_d], "on": sorted(blink_on)}


def paint_blips(scene: Scene) -> None:
    """Blips (a magenta disc for 1-2 frames, 2-5 per video), over everything but never over a
    lamp or the swapping tile, whose 1-frame events they could otherwise hide."""
    if not scene.on("blip"):
        return
    rng, d, margin = scene.rng, scene.blip_d, scene.margin
    lamp_boxes = [(*scene.lamps[n], scene.lamp_d) for n in scene.lamps]
    if "box" in scene.events.get("periodic_swap", {}):
        lamp_boxes.append(tuple(scene.events["periodic_swap"]["box"]))
    for _ in range(int(rng.integers(2, 6))):
        t0 = int(rng.integers(0, scene.frames))
        t1 = min(scene.frames, t0 + int(rng.integers(1, 3)))
        for _ in range(100):
            y, x = (int(v) for v in rng.integers(margin, scene.size - margin - d + 1, 2))
            if all(y + d + 1 <= ly or ly + ld + 1 <= y or x + d + 1 <= lx or lx + ld + 1 <= x
                   for ly, lx, ld in lamp_boxes):
                break
        scene.paint_range(shape_mask("disc", d), y, x, COLOURS["magenta"], t0, t1)
        scene.label("blip", t0, t1)
        scene.events["blip"].extend([t, y, x, d] for t in range(t0, t1))


def paint_brightness(scene: Scene) -> None:
    """Global brightness: a slow drift, 1-frame flashes (the class), slow fades (distractor)."""
    rng, frames, events = scene.rng, scene.frames, scene.events
    offset = np.linspace(rng.uniform(-10, 10), rng.uniform(-10, 10), frames)
    flash_frames: list[int] = []
    if scene.on("flash"):
        for _ in range(int(rng.integers(1, 4))):
            t = int(rng.integers(0, frames))
            if all(abs(t - f) >= 3 for f in flash_frames):
                flash_frames.append(t)
        for t in flash_frames:
            offset[t] += FLASH
            scene.label("flash", t, t + 1)
    if scene.maybe(0.5):
        for _ in range(int(rng.integers(1, 3))):
            half = int(rng.integers(2, 5))
            c = int(rng.integers(half, frames - half))
            if (any(abs(c - f) <= half + 1 for f in flash_frames)
                    or any(abs(c - f) <= 2 * half + 1 for f in events["fade"])):
                continue  # a fade over a flash would hide its 1-frame edge; two would saturate
            ramp = FLASH * (1 - np.abs(np.arange(-half, half + 1)) / half)
            offset[c - half:c + half + 1] += ramp
            events["fade"].append(c)
    events["flash"] = sorted(flash_frames)
    scene.video += offset[:, None, None, None]
