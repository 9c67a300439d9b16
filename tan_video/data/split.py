"""A config's data as a split: class names, training and test annotations, and the video check.

Used by training, evaluation, detection scoring and the demo, so that all of them read a
dataset the same way.
"""

from __future__ import annotations

import logging
from collections import Counter

from ..errors import InputError
from . import annotations as ann_io
from .datasets import LabelListDataset, VideoResolver
from .video import note_late_video, open_video

log = logging.getLogger(__name__)


def read_split(cfg):
    """(class names, training annotations, test annotations) as the config describes them.

    Class names (and so K) come from the files whenever they are known: ``data.classes``; else the
    names the reader found (MultiTHUMOS's class list, ActivityNet labels), over the training and
    the test file together; only otherwise ``class_0 ... class_{K-1}`` with ``K = 1 + the largest
    class id seen`` (or ``model.num_classes``), said in a one-line notice.
    """
    d = cfg.data
    if cfg.train.mode == "single_label":
        if not d.label_list:
            raise InputError("train.mode=single_label needs data.label_list")
        return LabelListDataset.class_names_of(d.label_list), [], []
    if d.annotations is None:
        raise InputError("data.annotations is not set in the config")
    classes = ann_io.read_class_names(d.classes) if d.classes else None
    anns = ann_io.read_annotations(d.annotations, format=d.format, class_base=d.class_base, classes=classes)
    if d.test_annotations:
        train = list(anns)
        test_list = ann_io.read_annotations(d.test_annotations, format=d.format, class_base=d.class_base,
                                            classes=classes if classes is not None else anns.class_names)
        test = list(test_list)
    else:
        test_list = None
        train = [a for a in anns if a.subset == "training"]
        test = [a for a in anns if a.subset in ("testing", "validation")]
        left = Counter(a.subset for a in anns if a.subset not in ("training", "testing", "validation"))
        if left:  # (a subset spelt "train" or "test" would otherwise vanish without a word)
            log.warning("%s: %d videos left out of training and testing, their subset not 'training', 'testing' "
                        "or 'validation': %s", d.annotations, sum(left.values()),
                        ", ".join(f"{n} x {s!r}" for s, n in left.most_common()))
    if classes is None and anns.class_names is not None:
        classes = list(anns.class_names)
        if test_list is not None and test_list.class_names not in (None, classes):
            raise InputError(f"the test file names other classes than {d.annotations}; give data.classes",
                             path=d.test_annotations)
    if classes is None:
        seen = 1 + max((c for a in train + test for c, _, _ in a.segments), default=-1)
        k = cfg.model.num_classes or seen
        classes = [f"class_{i}" for i in range(k)]
        log.info("%s: no class list (data.classes); %d classes named class_0 ... class_%d", d.annotations, k, k - 1)
    if not train:
        raise InputError(f"{d.annotations}: no videos with subset 'training'")
    return classes, train, test


def check_videos(anns, videos, readable: bool = True) -> list:
    """Fail before any work, in one line, if an annotated video has no file or (``readable``) a
    file that does not open as a video (empty, not a video, no video stream); else the path of
    each annotation's video, in order.

    Opening reads the container's header only (about 1 ms a file): a file damaged further in
    is found when decoded, as an error naming it.
    """
    resolve = VideoResolver(videos)
    missing, paths = [], []
    for a in anns:
        try:
            paths.append(resolve(a.video_id))
        except InputError:
            missing.append(a.video_id)
    if missing:
        raise InputError(f"{len(missing)} of {len(anns)} annotated videos have no file or frame folder "
                         f"(first: {missing[0]})", path=videos)
    doubled = [(path, others) for a, path in zip(anns, paths) if (others := resolve.others(a.video_id, path))]
    if doubled:
        path, others = doubled[0]
        log.warning("%d videos have more than one file (first: %s is used, %s not)", len(doubled), path,
                    ", ".join(p.name for p in others))
    if readable:
        bad, late = [], []
        for path in paths:
            if not path.is_dir():
                try:
                    container = open_video(path, warn_late=False)
                except InputError as e:
                    bad.append(str(e))
                    continue
                if seconds := note_late_video(container, path):  # said here, once for all of them
                    late.append((path, seconds))
                container.close()
        if bad:
            raise InputError(f"{len(bad)} of {len(paths)} annotated videos are not readable videos (first: {bad[0]}); "
                             "replace them, or remove them from the annotations")
        if late:
            log.warning("%d of %d videos start later than their audio (first: %s, by %.2f s): times count from each "
                        "video's first frame, a player's from the file's start, so annotations made in a player are "
                        "later by that much", len(late), len(paths), late[0][0], late[0][1])
    return paths


__all__ = ["read_split", "check_videos"]
