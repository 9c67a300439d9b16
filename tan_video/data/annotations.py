"""Annotations: one internal type, readers for the public formats, dense targets.

Every dataset format is turned into a list of :class:`VideoAnnotation` (README, "Reading annotations").
"""

from __future__ import annotations

import csv
import json
import logging
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass
class VideoAnnotation:
    """One video's labels.

    video_id: the id used in the annotation file (also the video file's stem).
    duration: length in seconds.
    segments: ``(class_index, start_s, end_s)``, class indices 0-based.
    subset: ``"training"`` / ``"testing"`` / ``"validation"`` or None when the format has none.
    """

    video_id: str
    duration: float
    segments: list[tuple[int, float, float]] = field(default_factory=list)
    subset: str | None = None


def dense_targets(annotation: VideoAnnotation, times, num_classes: int) -> np.ndarray:
    """Multi-hot frame targets ``(T, K)`` float32 for explicit sample times ``(T,)`` in seconds.

    A frame at time ``t`` carries class ``c`` when ``start <= t <= end`` for some segment of
    ``c`` (inclusive at both ends, as the official Charades localisation script does).
    """
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    out = np.zeros((times.shape[0], num_classes), dtype=np.float32)
    for cls, start, end in annotation.segments:
        if not 0 <= cls < num_classes:
            raise ValueError(f"video {annotation.video_id}: class {cls} outside [0, {num_classes})")
        out[(times >= start) & (times <= end), cls] = 1.0
    return out


# --------------------------------------------------------------------------------------------
# Readers for the public formats
# --------------------------------------------------------------------------------------------
#
# Every reader funnels its segments through ``_Collector``, which applies the one cleaning
# policy (clip to the video, drop reversed segments) and counts what it did, so that all
# formats behave the same and the user sees one summary line per file.

ANNOTATION_FORMATS: tuple[str, ...] = ("charades_csv", "dense_json", "multithumos_txt", "activitynet_json")
"""The values accepted by ``read_annotations(format=...)``."""

_STAT_KEYS = ("videos", "segments", "clipped", "dropped_reversed", "dropped_outside", "videos_without_segments")

logger = logging.getLogger(__name__)
_REPORTED: set = set()  # (summary, changes) already logged by AnnotationList.finish


class AnnotationList(list):
    """A ``list[VideoAnnotation]`` that also says what the reader did.

    stats: counts, always with the keys
        ``videos``, ``segments`` (segments kept), ``clipped`` (segments whose start or end was
        moved into ``[0, duration]``), ``dropped_reversed`` (segments written with
        ``end < start``, dropped), ``dropped_outside`` (segments lying wholly outside
        ``[0, duration]``, dropped), ``videos_without_segments``.
    class_names: the class names in index order when the format names its classes (MultiTHUMOS
        directories, ActivityNet JSON) or ``classes=`` was given, else None. For formats that
        name classes this is the mapping the indices refer to: keep it next to the model.
    path: the file or directory read.
    """

    def __init__(self, items: Iterable[VideoAnnotation] = (), *, stats: dict[str, int] | None = None,
                 class_names: list[str] | None = None, path: str | None = None):
        super().__init__(items)
        self.stats: dict[str, int] = dict(stats) if stats is not None else {k: 0 for k in _STAT_KEYS}
        self.class_names = class_names
        self.path = path

    @property
    def num_classes(self) -> int | None:
        """``len(class_names)`` when the class names are known, else None."""
        return None if self.class_names is None else len(self.class_names)


class _Collector:
    """Builds the AnnotationList of one file, applying and counting the cleaning policy."""

    def __init__(self, path: Path):
        self.path = path
        self.videos: list[VideoAnnotation] = []
        self.ids: set[str] = set()
        self.stats = {k: 0 for k in _STAT_KEYS}

    def add(self, video_id: str, duration: float, segments: Iterable[tuple[int, float, float]],
            subset: str | None, line: int | None = None) -> None:
        if video_id in self.ids:
            raise InputError(f"video {_shown(video_id)} appears twice", path=self.path, line=line)
        self.ids.add(video_id)
        kept: list[tuple[int, float, float]] = []
        for cls, start, end in segments:
            if end < start:
                # Reversed times are annotation errors whose intent is unknown (a typo'd order,
                # or a missing end?). Dropping them reproduces the official Charades
                # localisation ground truth, whose test `start <= t <= end` never labels a
                # frame from such a segment; swapping would invent frames it does not label.
                self.stats["dropped_reversed"] += 1
                continue
            if start > duration or end < 0:
                self.stats["dropped_outside"] += 1
                continue
            # Ends past the video occur in Charades (`length` and the action times disagree);
            # clipping keeps every segment inside the video it labels.
            c_start, c_end = max(start, 0.0), min(end, duration)
            if (c_start, c_end) != (start, end):
                self.stats["clipped"] += 1
            kept.append((cls, c_start, c_end))
        self.stats["videos"] += 1
        self.stats["segments"] += len(kept)
        self.stats["videos_without_segments"] += not kept
        self.videos.append(VideoAnnotation(video_id, duration, kept, subset))

    def finish(self, class_names: list[str] | None) -> AnnotationList:
        s = self.stats
        summary = (f"{self.path}: {s['videos']} videos, {s['segments']} segments "
                   f"({s['videos_without_segments']} videos without segments)")
        changes = []
        if s["clipped"]:
            changes.append(f"clipped {s['clipped']} segments to the video's [0, duration]")
        if s["dropped_reversed"]:
            changes.append(f"dropped {s['dropped_reversed']} segments with end < start")
        if s["dropped_outside"]:
            changes.append(f"dropped {s['dropped_outside']} segments outside the video")
        # Said once per file and content in a process (the demo reads one file for five models)
        key = (summary, tuple(changes))
        if key not in _REPORTED:
            _REPORTED.add(key)
            if changes:
                logger.warning("%s; %s", summary, "; ".join(changes))
            else:
                logger.info("%s", summary)
        return AnnotationList(self.videos, stats=s, class_names=class_names, path=str(self.path))


def _shown(video_id: str) -> str:
    # Error messages are one line: an id with whitespace or control characters is quoted.
    return video_id if video_id.isprintable() and not any(c.isspace() for c in video_id) else repr(video_id)


def _number(value: object, what: str, path: Path, line: int | None = None, where: str = "") -> float:
    """A finite float from a CSV token or a JSON value, else InputError naming it."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise InputError(f"{where}{what} must be a number, got {value!r}", path=path, line=line)
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"{where}{what} must be a number, got {value!r}", path=path, line=line) from None
    if not math.isfinite(x):
        raise InputError(f"{where}{what} must be finite, got {value!r}", path=path, line=line)
    return x


def _duration(value: object, path: Path, line: int | None = None, where: str = "") -> float:
    d = _number(value, "duration", path, line, where)
    if d < 0:
        raise InputError(f"{where}duration must be >= 0, got {value!r}", path=path, line=line)
    return d


def _class_id(raw: int, class_base: int, num_classes: int | None, path: Path,
              line: int | None = None, where: str = "") -> int:
    """Subtract the file's class base and check the range, suggesting the other base on error."""
    cls = raw - class_base
    if cls < 0 or (num_classes is not None and cls >= num_classes):
        if cls < 0:
            problem = f"class id {raw} with class_base={class_base} gives index {cls} < 0"
        else:
            problem = (f"class id {raw} with class_base={class_base} gives index {cls}, outside "
                       f"the {num_classes} classes")
        if class_base in (0, 1):
            other = 1 - class_base
            hint = (f"; is the file {other}-based? set class_base to {other} (data.class_base in a config, "
                    f"--class-base on the command line)")
        else:
            hint = "; check class_base (the id of the first class in the file)"
        raise InputError(f"{where}{problem}{hint}", path=path, line=line)
    return cls


def _subset_from_name(path: Path) -> str | None:
    """``Charades_v1_train.csv`` -> "training", ``..._test.csv`` -> "testing", ``..._val`` -> "validation"."""
    m = re.search(r"(?:^|[_\-.])(train|training|test|testing|val|validation)$", path.stem.lower())
    if m is None:
        return None
    return {"train": "training", "test": "testing", "val": "validation"}.get(m.group(1), m.group(1))


def _resolve_classes(classes: Sequence[str] | str | os.PathLike | None) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, (str, os.PathLike)):
        return read_class_names(classes)
    names = [str(c) for c in classes]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"class name {dup!r} appears twice in classes=")
    return names


# -- class lists ------------------------------------------------------------------------------

_CHARADES_CLASS_LINE = re.compile(r"c(\d+)\s+(\S.*)")
_NUMBERED_CLASS_LINE = re.compile(r"(\d+)\s+(\S.*)")


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names in index order from a class-list file.

    Three line styles, decided by the first non-blank line and then required of every line:

    - ``c008 Opening a door`` (``Charades_v1_classes.txt``): ``cNNN`` is the 0-based index;
      the indices must be exactly ``0..K-1`` (any order in the file).
    - ``1 BaseballPitch`` (MultiTHUMOS ``class_list.txt``): the numbers must be consecutive,
      starting at 0 or 1 (they only order the names; the base of *annotation* ids is still
      ``class_base``).
    - bare names, one per line, in index order.

    Blank lines are skipped; surrounding whitespace is stripped; names must be unique.
    """
    path = Path(path)
    lines = read_text_lines(path)
    entries = [(i, s) for i, s in enumerate((ln.strip() for ln in lines), start=1) if s]
    if not entries:
        raise InputError("no class names", path=path)
    first = entries[0][1]
    style = ("charades" if _CHARADES_CLASS_LINE.fullmatch(first)
             else "numbered" if _NUMBERED_CLASS_LINE.fullmatch(first) else "bare")
    if style == "bare":
        names = [s for _, s in entries]
        _check_unique(names, [i for i, _ in entries], path)
        return names

    pattern = _CHARADES_CLASS_LINE if style == "charades" else _NUMBERED_CLASS_LINE
    example = "cNNN <name>" if style == "charades" else "<number> <name>"
    by_index: dict[int, tuple[str, int]] = {}
    for lineno, s in entries:
        m = pattern.fullmatch(s)
        if m is None:
            raise InputError(f"expected '{example}' like the first line, got {s!r}", path=path, line=lineno)
        idx, name = int(m.group(1)), m.group(2).strip()
        if idx in by_index:
            raise InputError(f"class index {idx} also on line {by_index[idx][1]}", path=path, line=lineno)
        by_index[idx] = (name, lineno)
    base = min(by_index)
    allowed_bases = (0,) if style == "charades" else (0, 1)
    if base not in allowed_bases:
        base = allowed_bases[0]
    missing = sorted(set(range(base, max(by_index) + 1)) - set(by_index))
    if missing:
        first = " or ".join(map(str, allowed_bases))
        raise InputError(f"class indices must run consecutively from {first}; missing {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}", path=path)
    ordered = [by_index[i] for i in sorted(by_index)]
    _check_unique([n for n, _ in ordered], [ln for _, ln in ordered], path)
    return [n for n, _ in ordered]


def _check_unique(names: list[str], lines: list[int], path: Path) -> None:
    seen: dict[str, int] = {}
    for name, lineno in zip(names, lines):
        if name in seen:
            raise InputError(f"class name {name!r} also on line {seen[name]}", path=path, line=lineno)
        seen[name] = lineno


def read_text_lines(path: Path, what: str = "file") -> list[str]:
    """The lines of a UTF-8 text file; any failure is an InputError naming the file (and ``what`` it is)."""
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputError(f"no such {what}", path=path) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, expected a {what}", path=path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=path) from None


# -- the entry point --------------------------------------------------------------------------


def read_annotations(path: str | os.PathLike, format: str | None = None, class_base: int = 0,
                     classes: Sequence[str] | str | os.PathLike | None = None, *,
                     num_classes: int | None = None, subset: str | None = None,
                     durations: Mapping[str, float] | None = None) -> AnnotationList:
    """Read an annotation file (or MultiTHUMOS directory) into a list of :class:`VideoAnnotation`.

    path: the file, or for ``multithumos_txt`` the directory of ``<Class>.txt`` files.
    format: one of :data:`ANNOTATION_FORMATS`, or None to detect it: a directory is
        ``multithumos_txt``; a ``.csv`` whose header has an ``actions`` column is
        ``charades_csv``; a JSON object with a top-level ``database`` is ``activitynet_json``;
        a JSON object of videos with ``actions`` is ``dense_json``.
    class_base: the id of the first class in the file, for formats with numeric class ids
        (``dense_json``: 0 for Charades, 1 for MultiTHUMOS; ``charades_csv``: ``cNNN`` is
        0-based, keep 0). It is subtracted, never guessed: an id that becomes negative, or
        reaches ``num_classes``, raises an InputError suggesting the other base.
    classes: class names in index order, or the path of a class-list file
        (:func:`read_class_names`). Gives ``num_classes`` for the range check; for the formats
        that name their classes (``multithumos_txt``, ``activitynet_json``) it fixes the
        name -> index mapping. Without it those two formats order classes by sorted name
        (``multithumos_txt`` first looks for ``class_list.txt`` inside the directory).
    num_classes: the number of classes, when names are not at hand (range check only).
    subset: the subset of every video, overriding the file. Charades CSVs carry none, so it is
        inferred from the file name (``Charades_v1_train.csv`` -> "training", ``_test`` ->
        "testing"), else None. MultiTHUMOS infers it per video (``video_validation_*`` ->
        "training", ``video_test_*`` -> "testing": THUMOS trains on its validation videos).
    durations: ``{video_id: seconds}`` for ``multithumos_txt``, whose files have no durations;
        when given, it also defines the video set (videos without lines get no segments).
        Without it a video's duration is its latest segment end.

    Segments are cleaned the same way in every format (counted in ``.stats``, summarised in
    one ``logging`` warning): ``end < start`` -> dropped (the official Charades localisation
    test ``start <= t <= end`` never labels a frame from them); wholly outside
    ``[0, duration]`` -> dropped; otherwise start/end clipped into ``[0, duration]``.

    Raises InputError (one line naming the file and the line or video id) on any malformed
    input.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", path=path)
    if format is not None and format not in ANNOTATION_FORMATS:
        raise InputError(f"unknown annotation format {format!r}; known: {', '.join(ANNOTATION_FORMATS)}",
                         path=path)
    names = _resolve_classes(classes)
    if names is not None:
        if num_classes is not None and num_classes != len(names):
            raise InputError(f"num_classes={num_classes} but {len(names)} class names given", path=path)
        num_classes = len(names)
    if durations is not None and format not in (None, "multithumos_txt"):
        raise InputError(f"durations= only applies to multithumos_txt, not {format}", path=path)

    data = None
    if format is None:
        format, data = _detect(path)
    if durations is not None and format != "multithumos_txt":
        raise InputError(f"durations= only applies to multithumos_txt, not {format}", path=path)
    if format == "charades_csv":
        return _read_charades_csv(path, class_base, names, num_classes, subset)
    if format == "dense_json":
        return _read_dense_json(data if data is not None else _load_json(path), path, class_base, names,
                                num_classes, subset)
    if format == "multithumos_txt":
        result = _read_multithumos(path, names, subset, durations)
    else:
        result = _read_activitynet(data if data is not None else _load_json(path), path, names, subset)
    # These formats name their classes; a count that disagrees with the model's means the
    # name -> index mapping cannot be the intended one.
    if num_classes is not None and result.num_classes != num_classes:
        raise InputError(f"found {result.num_classes} classes but num_classes={num_classes}; pass classes= "
                         f"(the class list) to fix the name -> index mapping", path=path)
    return result


def _detect(path: Path) -> tuple[str, Any]:
    """The format of ``path`` (and the parsed JSON, to avoid reading it twice)."""
    known = ", ".join(ANNOTATION_FORMATS)
    if path.is_dir():
        return "multithumos_txt", None
    if path.suffix.lower() == ".csv":
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                header = next(csv.reader(f), [])
        except (UnicodeDecodeError, csv.Error, OSError) as e:
            raise InputError(f"unreadable CSV header: {e}", path=path, line=1) from None
        if "actions" in (h.strip() for h in header):
            return "charades_csv", None
        raise InputError(f"cannot detect the format: a .csv without an 'actions' column; pass format= "
                         f"(known: {known})", path=path)
    data = _load_json(path)
    if isinstance(data, dict):
        if "database" in data:
            return "activitynet_json", data
        if data and all(isinstance(v, dict) and "actions" in v for v in data.values()):
            return "dense_json", data
    raise InputError(f"cannot detect the format (not a Charades CSV, MultiTHUMOS directory, dense "
                     f"or ActivityNet JSON); pass format= (known: {known})", path=path)


# -- Charades CSV -----------------------------------------------------------------------------


def _read_charades_csv(path: Path, class_base: int, names: list[str] | None,
                       num_classes: int | None, subset: str | None) -> AnnotationList:
    """``id,subject,...,actions,length``; actions ``c092 11.90 21.20;c147 0.00 12.60`` or empty."""
    if subset is None:
        subset = _subset_from_name(path)
    out = _Collector(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, skipinitialspace=True)  # ("id, actions, length" as spreadsheets write it)
            header = reader.fieldnames = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in ("id", "actions", "length") if c not in header]
            if missing:
                raise InputError(f"Charades CSV header lacks column(s) {', '.join(missing)}", path=path, line=1)
            end_of_previous = 1
            for row in reader:
                # line_num is the last physical line of the record (quoted descriptions may
                # span lines); report the first one.
                lineno, end_of_previous = end_of_previous + 1, reader.line_num
                values = {c: row.get(c) for c in ("id", "actions", "length")}
                absent = [c for c, v in values.items() if v is None]
                if absent:
                    raise InputError(f"row has no {', '.join(absent)} field", path=path, line=lineno)
                vid = values["id"].strip()
                if not vid:
                    raise InputError("empty video id", path=path, line=lineno)
                where = f"video {_shown(vid)}: "
                duration = _duration(values["length"].strip(), path, lineno, where)
                segments = []
                for item in values["actions"].split(";"):
                    item = item.strip()
                    if not item:
                        continue
                    parts = item.split()
                    if len(parts) != 3 or not re.fullmatch(r"c\d+", parts[0]):
                        raise InputError(f"{where}action {item!r} is not 'cNNN start end'", path=path, line=lineno)
                    cls = _class_id(int(parts[0][1:]), class_base, num_classes, path, lineno, where)
                    segments.append((cls, _number(parts[1], "start", path, lineno, where),
                                     _number(parts[2], "end", path, lineno, where)))
                out.add(vid, duration, segments, subset, lineno)
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason})", path=path) from None
    except csv.Error as e:
        raise InputError(f"malformed CSV: {e}", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=path) from None
    return out.finish(names)


# -- JSON formats -----------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.load silently keeps the last of duplicate keys: a duplicated video id would lose
    # annotations without a word.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f, object_pairs_hook=_no_duplicates)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason})", path=path) from None
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg} (column {e.colno})", path=path, line=e.lineno) from None
    except _DuplicateKey as e:
        raise InputError(f"key {e.args[0]!r} appears twice in one object", path=path) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=path) from None


def _videos_object(data: Any, path: Path, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a JSON object of videos, got {type(data).__name__}", path=path)
    return data


def _json_subset(entry: dict, path: Path, where: str) -> str | None:
    value = entry.get("subset")
    if value is not None and not isinstance(value, str):
        raise InputError(f"{where}subset must be a string, got {value!r}", path=path)
    return value


def _read_dense_json(data: Any, path: Path, class_base: int, names: list[str] | None,
                     num_classes: int | None, subset: str | None) -> AnnotationList:
    """``{vid: {"subset": s, "duration": d, "actions": [[cls, start, end], ...]}}``."""
    out = _Collector(path)
    for vid, entry in _videos_object(data, path, "a dense JSON file").items():
        where = f"video {_shown(vid)}: "
        if not isinstance(entry, dict):
            raise InputError(f"{where}expected an object with duration and actions", path=path)
        for key in ("duration", "actions"):
            if key not in entry:
                raise InputError(f"{where}missing {key!r}", path=path)
        duration = _duration(entry["duration"], path, where=where)
        actions = entry["actions"]
        if not isinstance(actions, list):
            raise InputError(f"{where}actions must be a list of [class, start, end]", path=path)
        segments = []
        for k, action in enumerate(actions):
            if not isinstance(action, list) or len(action) != 3:
                raise InputError(f"{where}action {k} is {action!r}, expected [class, start, end]", path=path)
            raw = action[0]
            # Integral floats (3.0) come from tools that store everything as float.
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise InputError(f"{where}action {k}: class id must be an integer, got {action[0]!r}", path=path)
            cls = _class_id(raw, class_base, num_classes, path, where=where)
            segments.append((cls, _number(action[1], "start", path, where=where),
                             _number(action[2], "end", path, where=where)))
        out.add(vid, duration, segments, subset if subset is not None else _json_subset(entry, path, where))
    return out.finish(names)


def _read_activitynet(data: Any, path: Path, names: list[str] | None, subset: str | None) -> AnnotationList:
    """``{"database": {vid: {"subset", "duration", "annotations": [{"label", "segment": [s, e]}]}}}``."""
    if not isinstance(data, dict) or "database" not in data:
        raise InputError("an ActivityNet-style file needs a top-level 'database' object", path=path)
    database = _videos_object(data["database"], path, "'database'")
    # First pass validates and collects labels: without classes= the index of a label depends
    # on every label in the file (sorted unique names).
    parsed = []
    for vid, entry in database.items():
        where = f"video {_shown(vid)}: "
        if not isinstance(entry, dict):
            raise InputError(f"{where}expected an object with duration and annotations", path=path)
        if "duration" not in entry:
            raise InputError(f"{where}missing 'duration'", path=path)
        duration = _duration(entry["duration"], path, where=where)
        anns = entry.get("annotations", [])
        if not isinstance(anns, list):
            raise InputError(f"{where}annotations must be a list", path=path)
        segs = []
        for k, ann in enumerate(anns):
            if not isinstance(ann, dict) or "label" not in ann or "segment" not in ann:
                raise InputError(f"{where}annotation {k} needs 'label' and 'segment'", path=path)
            label, seg = ann["label"], ann["segment"]
            if not isinstance(label, str):
                raise InputError(f"{where}annotation {k}: label must be a string, got {label!r}", path=path)
            if not isinstance(seg, list) or len(seg) != 2:
                raise InputError(f"{where}annotation {k}: segment must be [start, end], got {seg!r}", path=path)
            segs.append((label, _number(seg[0], "start", path, where=where),
                         _number(seg[1], "end", path, where=where)))
        parsed.append((vid, duration, segs, subset if subset is not None else _json_subset(entry, path, where)))

    if names is None:
        names = sorted({label for _, _, segs, _ in parsed for label, _, _ in segs})
    index = {n: i for i, n in enumerate(names)}
    out = _Collector(path)
    for vid, duration, segs, video_subset in parsed:
        segments = []
        for label, start, end in segs:
            if label not in index:
                raise InputError(f"video {_shown(vid)}: label {label!r} is not among the {len(names)} classes given",
                                 path=path)
            segments.append((index[label], start, end))
        out.add(vid, duration, segments, video_subset)
    return out.finish(names)


# -- MultiTHUMOS directory --------------------------------------------------------------------

_CLASS_LIST_FILE = "class_list.txt"


def _thumos_subset(video_id: str) -> str | None:
    # THUMOS convention: the "validation" videos are the training set of the detection task.
    if video_id.startswith("video_validation_"):
        return "training"
    if video_id.startswith("video_test_"):
        return "testing"
    return None


def _read_multithumos(path: Path, names: list[str] | None, subset: str | None,
                      durations: Mapping[str, float] | None) -> AnnotationList:
    """A directory of ``<ClassName>.txt``, lines ``video_validation_0000051 12.3 15.1``."""
    if not path.is_dir():
        raise InputError("multithumos_txt expects a directory of <ClassName>.txt files", path=path)
    files = {p.stem: p for p in sorted(path.glob("*.txt")) if p.name != _CLASS_LIST_FILE}
    if names is None and (path / _CLASS_LIST_FILE).is_file():
        names = read_class_names(path / _CLASS_LIST_FILE)
    if names is None:
        names = sorted(files)
        if not names:
            raise InputError("no <ClassName>.txt files", path=path)
    unknown = sorted(set(files) - set(names))
    if unknown:
        raise InputError(f"class file {unknown[0]}.txt names no class in the {len(names)} classes given",
                         path=files[unknown[0]])

    per_video: dict[str, list[tuple[int, float, float]]] = {}
    for cls, name in enumerate(names):
        file = files.get(name)
        if file is None:
            continue  # a class nobody performed: legitimate, it simply has no segments
        for lineno, text in enumerate(read_text_lines(file), start=1):
            parts = text.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise InputError(f"expected 'video start end', got {text.strip()!r}", path=file, line=lineno)
            vid = parts[0]
            if durations is not None and vid not in durations:
                raise InputError(f"video {vid} has no entry in durations", path=file, line=lineno)
            start = _number(parts[1], "start", file, lineno)
            end = _number(parts[2], "end", file, lineno)
            per_video.setdefault(vid, []).append((cls, start, end))

    out = _Collector(path)
    video_ids = list(durations) if durations is not None else sorted(per_video)
    for vid in video_ids:
        segments = per_video.get(vid, [])
        if durations is not None:
            duration = _duration(durations[vid], path, where=f"durations[{vid!r}]: ")
        else:
            duration = max((max(s, e) for _, s, e in segments), default=0.0)
        out.add(vid, duration, segments, subset if subset is not None else _thumos_subset(vid))
    return out.finish(names)


# -- writer -----------------------------------------------------------------------------------


def write_dense_json(annotations: Iterable[VideoAnnotation], path: str | os.PathLike, class_base: int = 0) -> None:
    """Write ``{vid: {"subset", "duration", "actions": [[cls + class_base, start, end], ...]}}``.

    The inverse of ``read_annotations(path, "dense_json", class_base=class_base)``: floats are
    written by ``json`` at full precision, so the round trip is exact. ``subset`` is omitted
    for videos whose subset is None. Video ids must be unique (ValueError otherwise).
    """
    out: dict[str, dict[str, Any]] = {}
    for ann in annotations:
        if ann.video_id in out:
            raise ValueError(f"video {ann.video_id} appears twice")
        entry: dict[str, Any] = {}
        if ann.subset is not None:
            entry["subset"] = ann.subset
        entry["duration"] = float(ann.duration)
        entry["actions"] = [[int(c) + class_base, float(s), float(e)] for c, s, e in ann.segments]
        out[ann.video_id] = entry
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
