"""Annotation readers on fixtures written here: every format, its edge cases, its errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from tan_video.data import (
    ANNOTATION_FORMATS,
    AnnotationList,
    VideoAnnotation,
    dense_targets,
    read_annotations,
    read_class_names,
    write_dense_json,
)
from tan_video.errors import InputError

CHARADES_HEADER = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"


def charades_row(vid: str, actions: str, length: str, script: str = "A person opens a door.") -> str:
    return f'{vid},HR43,Kitchen,6,7,Yes,"{script}",door;cup,"{script}",{actions},{length}\n'


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- Charades CSV -----------------------------------------------------------------------------


def test_charades_csv_reads_segments_subset_and_empty_actions(tmp_path):
    path = write(tmp_path / "Charades_v1_train.csv", CHARADES_HEADER
                 + charades_row("46GP8", "c092 11.90 21.20;c147 0.00 12.60", "24.83")
                 + charades_row("N11GT", "", "30.00"))
    anns = read_annotations(path)  # detected: .csv with an actions column
    assert isinstance(anns, AnnotationList)
    assert anns == [
        VideoAnnotation("46GP8", 24.83, [(92, 11.9, 21.2), (147, 0.0, 12.6)], "training"),
        VideoAnnotation("N11GT", 30.0, [], "training"),
    ]
    assert anns.stats == {"videos": 2, "segments": 2, "clipped": 0, "dropped_reversed": 0,
                          "dropped_outside": 0, "videos_without_segments": 1}
    assert anns.class_names is None
    assert read_annotations(path, subset="testing")[0].subset == "testing"


def test_charades_csv_subset_from_file_name(tmp_path):
    body = CHARADES_HEADER + charades_row("A", "c000 0 1", "5")
    assert read_annotations(write(tmp_path / "Charades_v1_test.csv", body))[0].subset == "testing"
    assert read_annotations(write(tmp_path / "mine.csv", body))[0].subset is None


def test_a_spreadsheets_csv_and_json_read_as_written(tmp_path):
    # found by a new-user review: Excel's "CSV UTF-8" starts with a byte-order mark, and a header
    # typed "id, actions, length" has spaces; both were "header lacks column(s)"
    rows = "id, actions, length\nv1 ,\"c001 1.0 2.0;c002 0.5 1.5\", 4.0\n"
    (tmp_path / "bom_train.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    a = read_annotations(tmp_path / "bom_train.csv", class_base=0)
    assert [(x.video_id, x.duration, x.segments) for x in a] == [("v1", 4.0, [(1, 1.0, 2.0), (2, 0.5, 1.5)])]
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + b'{"v1": {"duration": 3, "actions": [[0, 0.5, 1.0]]}}')
    assert read_annotations(tmp_path / "bom.json")[0].segments == [(0, 0.5, 1.0)]


def test_charades_csv_columns_by_name_and_multiline_quoted_fields(tmp_path):
    # Columns in another order, extra ones, a description spanning two physical lines: the
    # error line number must still be the record's first line.
    text = ("length,actions,id,descriptions\n"
            '10,c001 1 2,AAA,"one\ntwo"\n'
            "10,c001 x 2,BBB,plain\n")
    path = write(tmp_path / "Charades_v1_test.csv", text)
    with pytest.raises(InputError, match="start must be a number") as err:
        read_annotations(path, format="charades_csv")
    assert err.value.line == 4 and "Charades_v1_test.csv:4: video BBB" in str(err.value)
    text = text.replace("c001 x 2", "c001 1 2")
    assert [a.video_id for a in read_annotations(write(path, text))] == ["AAA", "BBB"]


def test_charades_csv_clips_and_drops_with_counts_and_one_warning(tmp_path, caplog):
    path = write(tmp_path / "Charades_v1_test.csv", CHARADES_HEADER
                 + charades_row("A", "c001 5.0 40.0;c002 7.0 3.0;c003 31.0 35.0;c004 1 2", "30.0"))
    with caplog.at_level(logging.WARNING, logger="tan_video.data.annotations"):
        anns = read_annotations(path)
    # end 40 > length 30: clipped; end < start: dropped; starts after the end: dropped.
    assert anns[0].segments == [(1, 5.0, 30.0), (4, 1.0, 2.0)]
    assert anns.stats["clipped"] == 1
    assert anns.stats["dropped_reversed"] == 1
    assert anns.stats["dropped_outside"] == 1
    assert anns.stats["segments"] == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    msg = warnings[0].getMessage()
    assert "Charades_v1_test.csv" in msg and "clipped 1" in msg and "dropped 1 segments with end < start" in msg


@pytest.mark.parametrize("row, message", [
    (charades_row("A", "c001 1.0", "10"), "is not 'cNNN start end'"),
    (charades_row("A", "x001 1.0 2.0", "10"), "is not 'cNNN start end'"),
    (charades_row("A", "c001 1.0 abc", "10"), "end must be a number"),
    (charades_row("A", "c001 1.0 2.0", "long"), "duration must be a number"),
    (charades_row("A", "c001 1.0 2.0", "-3"), "duration must be >= 0"),
    (charades_row("A", "c001 nan 2.0", "10"), "start must be finite"),
    ("A,HR43\n", "no actions, length field"),
])
def test_charades_csv_errors_name_file_line_and_video(tmp_path, row, message):
    path = write(tmp_path / "Charades_v1_train.csv", CHARADES_HEADER + charades_row("OK", "", "3") + row)
    with pytest.raises(InputError, match=message) as err:
        read_annotations(path)
    assert "Charades_v1_train.csv:3:" in str(err.value)
    assert "\n" not in str(err.value)


def test_charades_csv_header_and_duplicate_errors(tmp_path):
    path = write(tmp_path / "c.csv", "id,actions\nA,\n")
    with pytest.raises(InputError, match="lacks column.*length") as err:
        read_annotations(path, format="charades_csv")
    assert "c.csv:1:" in str(err.value)
    path = write(tmp_path / "c.csv", CHARADES_HEADER + charades_row("A", "", "1") + charades_row("A", "", "1"))
    with pytest.raises(InputError, match="video A appears twice"):
        read_annotations(path)


def test_charades_csv_class_range_check(tmp_path):
    path = write(tmp_path / "c.csv", CHARADES_HEADER + charades_row("A", "c157 1 2", "10"))
    assert read_annotations(path)[0].segments == [(157, 1.0, 2.0)]  # no class count: nothing to check
    with pytest.raises(InputError, match="video A: class id 157 .* outside the 157 classes") as err:
        read_annotations(path, num_classes=157)
    assert "c.csv:2:" in str(err.value)


# -- class lists ------------------------------------------------------------------------------


def test_read_class_names_charades_style_any_order(tmp_path):
    path = write(tmp_path / "Charades_v1_classes.txt",
                 "c001 Holding some clothes\nc000 Holding a bag\n\nc002 Opening a door\n")
    assert read_class_names(path) == ["Holding a bag", "Holding some clothes", "Opening a door"]


def test_read_class_names_numbered_and_bare(tmp_path):
    assert read_class_names(write(tmp_path / "a.txt", "1 BaseballPitch\n2 BasketballDunk\n")) == \
        ["BaseballPitch", "BasketballDunk"]
    assert read_class_names(write(tmp_path / "b.txt", "0 Run\n1 Jump\n")) == ["Run", "Jump"]
    assert read_class_names(write(tmp_path / "c.txt", "  Run  \nJump high\n")) == ["Run", "Jump high"]


@pytest.mark.parametrize("text, message, line", [
    ("c000 A\nc002 B\n", r"missing \[1\]", None),
    ("c001 A\nc002 B\n", r"from 0; missing \[0\]", None),  # Charades lists are 0-based
    ("2 A\n3 B\n", r"from 0 or 1; missing \[0, 1\]", None),
    ("1 A\n3 B\n", r"missing \[2\]", None),
    ("c000 A\nB\n", "expected 'cNNN <name>'", 2),
    ("c000 A\nc000 B\n", "class index 0 also on line 1", 2),
    ("Run\nJump\nRun\n", "'Run' also on line 1", 3),
    ("\n\n", "no class names", None),
])
def test_read_class_names_errors(tmp_path, text, message, line):
    with pytest.raises(InputError, match=message) as err:
        read_class_names(write(tmp_path / "classes.txt", text))
    assert "classes.txt" in str(err.value) and err.value.line == line


# -- dense JSON -------------------------------------------------------------------------------


def dense_json(path: Path, videos: dict) -> Path:
    return write(path, json.dumps(videos))


def test_dense_json_zero_and_one_based(tmp_path):
    videos = {"v1": {"subset": "training", "duration": 10.0, "actions": [[1, 0.5, 2.0], [3, 4.0, 12.0]]},
              "v2": {"subset": "testing", "duration": 5, "actions": []}}
    path = dense_json(tmp_path / "multithumos.json", videos)
    one = read_annotations(path, class_base=1, num_classes=3)  # detected as dense_json
    assert one[0] == VideoAnnotation("v1", 10.0, [(0, 0.5, 2.0), (2, 4.0, 10.0)], "training")
    assert one[1] == VideoAnnotation("v2", 5.0, [], "testing")
    assert one.stats["clipped"] == 1
    zero = read_annotations(path, format="dense_json", class_base=0)
    assert [c for c, _, _ in zero[0].segments] == [1, 3]


def test_dense_json_class_base_errors_suggest_the_other_base(tmp_path):
    path = dense_json(tmp_path / "charades.json",
                      {"v1": {"duration": 10.0, "actions": [[0, 0.5, 2.0], [156, 1.0, 2.0]]}})
    # A 0-based file read as 1-based: id 0 becomes -1.
    with pytest.raises(InputError, match=r"video v1: class id 0 with class_base=1 .*set class_base to 0") as err:
        read_annotations(path, class_base=1)
    assert "charades.json" in str(err.value)
    path = dense_json(tmp_path / "mt.json", {"v1": {"duration": 10.0, "actions": [[65, 0.5, 2.0]]}})
    # A 1-based file read as 0-based with the class count known: id 65 is out of range.
    with pytest.raises(InputError, match=r"outside the 65 classes; is the file 1-based\? set class_base to 1"):
        read_annotations(path, class_base=0, classes=[f"c{i}" for i in range(65)])


@pytest.mark.parametrize("videos, message", [
    ({"v1": {"actions": []}}, "video v1: missing 'duration'"),
    ({"v1": {"duration": 3.0}}, "video v1: missing 'actions'"),
    ({"v1": {"duration": "long", "actions": []}}, "video v1: duration must be a number"),
    ({"v1": {"duration": 3.0, "actions": [[0, 1.0]]}}, r"video v1: action 0 is \[0, 1.0\]"),
    ({"v1": {"duration": 3.0, "actions": [["c001", 1.0, 2.0]]}}, "class id must be an integer"),
    ({"v1": {"duration": 3.0, "actions": [[0, "a", 2.0]]}}, "start must be a number"),
    ({"v1": {"duration": 3.0, "actions": [[0, 1.0, True]]}}, "end must be a number"),
    ({"v1": {"duration": 3.0, "subset": 1, "actions": []}}, "subset must be a string"),
    ({"v1": [1, 2]}, "video v1: expected an object"),
])
def test_dense_json_errors_name_file_and_video(tmp_path, videos, message):
    path = dense_json(tmp_path / "d.json", videos)
    with pytest.raises(InputError, match=message) as err:
        read_annotations(path, format="dense_json")
    assert str(err.value).startswith(f"{path}: ")


def test_dense_json_invalid_json_and_duplicate_ids(tmp_path):
    path = write(tmp_path / "d.json", '{"v1": {"duration": 3.0,\n "actions": [}\n')
    with pytest.raises(InputError, match="invalid JSON") as err:
        read_annotations(path, format="dense_json")
    assert err.value.line == 2
    path = write(tmp_path / "d.json", '{"v1": {"duration": 3.0, "actions": []}, "v1": {"duration": 1, "actions": []}}')
    with pytest.raises(InputError, match="'v1' appears twice"):
        read_annotations(path)


def test_write_dense_json_round_trip(tmp_path):
    anns = [VideoAnnotation("a", 12.345678901234, [(0, 0.1, 3.3), (4, 2.0 / 3.0, 12.345678901234)], "training"),
            VideoAnnotation("b", 7.0, [], None)]
    for base in (0, 1):
        path = tmp_path / f"out{base}.json"
        write_dense_json(anns, path, class_base=base)
        raw = json.loads(path.read_text())
        assert raw["a"]["actions"][1][0] == 4 + base and "subset" not in raw["b"]
        assert read_annotations(path, class_base=base) == anns
    with pytest.raises(ValueError, match="twice"):
        write_dense_json(anns + anns[:1], tmp_path / "dup.json")


# -- MultiTHUMOS directory --------------------------------------------------------------------


def multithumos_dir(root: Path) -> Path:
    d = root / "annotations"
    d.mkdir()
    write(d / "BaseballPitch.txt", "video_validation_0000051 12.3 15.1\nvideo_test_0000004 1.0 2.0\n")
    write(d / "Run.txt", "video_validation_0000051 0.0 20.5\n\n")
    write(d / "Jump.txt", "")
    return d


def test_multithumos_sorted_class_files_and_max_end_duration(tmp_path):
    d = multithumos_dir(tmp_path)
    anns = read_annotations(d)  # detected: a directory
    assert anns.class_names == ["BaseballPitch", "Jump", "Run"]
    assert anns == [
        VideoAnnotation("video_test_0000004", 2.0, [(0, 1.0, 2.0)], "testing"),
        VideoAnnotation("video_validation_0000051", 20.5, [(0, 12.3, 15.1), (2, 0.0, 20.5)], "training"),
    ]


def test_multithumos_class_list_and_durations(tmp_path):
    d = multithumos_dir(tmp_path)
    class_list = write(tmp_path / "class_list.txt", "1 Run\n2 BaseballPitch\n3 Jump\n4 Dive\n")
    durations = {"video_validation_0000051": 18.0, "video_test_0000004": 30.0, "video_test_0000099": 9.0}
    anns = read_annotations(d, classes=class_list, durations=durations)
    assert anns.class_names == ["Run", "BaseballPitch", "Jump", "Dive"]
    # Video order from durations; the unannotated video is present; end 20.5 clipped to 18.
    assert [a.video_id for a in anns] == list(durations)
    assert anns[0].segments == [(0, 0.0, 18.0), (1, 12.3, 15.1)] and anns.stats["clipped"] == 1
    assert anns[2] == VideoAnnotation("video_test_0000099", 9.0, [], "testing")
    # A class_list.txt inside the directory is used automatically and is not a class.
    write(d / "class_list.txt", class_list.read_text())
    assert read_annotations(d).class_names == ["Run", "BaseballPitch", "Jump", "Dive"]
    with pytest.raises(InputError, match="found 4 classes but num_classes=65"):
        read_annotations(d, num_classes=65)


def test_multithumos_errors(tmp_path):
    d = multithumos_dir(tmp_path)
    with pytest.raises(InputError, match="video video_test_0000004 has no entry in durations") as err:
        read_annotations(d, durations={"video_validation_0000051": 30.0})
    assert "BaseballPitch.txt:2:" in str(err.value)
    with pytest.raises(InputError, match="class file Run.txt names no class"):
        read_annotations(d, classes=["BaseballPitch", "Jump"])
    write(d / "Run.txt", "video_validation_0000051 0.0\n")
    with pytest.raises(InputError, match="expected 'video start end'") as err:
        read_annotations(d)
    assert "Run.txt:1:" in str(err.value)
    write(d / "Run.txt", "video_validation_0000051 0.0 1o.5\n")
    with pytest.raises(InputError, match="end must be a number") as err:
        read_annotations(d)
    assert "Run.txt:1:" in str(err.value)


# -- ActivityNet-style JSON -------------------------------------------------------------------


def activitynet(path: Path) -> Path:
    return write(path, json.dumps({"version": "THUMOS14", "database": {
        "video_test_0000004": {"subset": "test", "duration": 33.5, "annotations": [
            {"label": "Run", "segment": [1.0, 2.5]}, {"label": "Dive", "segment": [3.0, 40.0]}]},
        "video_validation_0000051": {"subset": "validation", "duration": 169.0, "annotations": []},
    }}))


def test_activitynet_sorted_labels_or_given_classes(tmp_path):
    path = activitynet(tmp_path / "thumos14.json")
    anns = read_annotations(path)  # detected: top-level database
    assert anns.class_names == ["Dive", "Run"]
    assert anns[0] == VideoAnnotation("video_test_0000004", 33.5, [(1, 1.0, 2.5), (0, 3.0, 33.5)], "test")
    assert anns[1].segments == [] and anns[1].subset == "validation"
    given = read_annotations(path, format="activitynet_json", classes=["Run", "Jump", "Dive"])
    assert given.class_names == ["Run", "Jump", "Dive"] and given[0].segments[1][0] == 2


def test_activitynet_errors(tmp_path):
    path = activitynet(tmp_path / "thumos14.json")
    with pytest.raises(InputError, match="video video_test_0000004: label 'Dive' is not among the 2 classes"):
        read_annotations(path, classes=["Run", "Jump"])
    with pytest.raises(InputError, match="found 2 classes but num_classes=20"):
        read_annotations(path, num_classes=20)
    bad = write(tmp_path / "bad.json", json.dumps({"database": {"v": {"duration": 3, "annotations": [
        {"label": "Run", "segment": [1.0]}]}}}))
    with pytest.raises(InputError, match=r"bad.json: video v: annotation 0: segment must be \[start, end\]"):
        read_annotations(bad)


# -- detection and shared behaviour -----------------------------------------------------------


def test_unknown_or_undetectable_format_lists_known_ones(tmp_path):
    path = dense_json(tmp_path / "d.json", {"v": {"duration": 1, "actions": []}})
    with pytest.raises(InputError, match="unknown annotation format 'thumos'; known: " + ", ".join(ANNOTATION_FORMATS)):
        read_annotations(path, format="thumos")
    with pytest.raises(InputError, match="cannot detect the format.*known: charades_csv"):
        read_annotations(write(tmp_path / "x.json", "[1, 2]"))
    with pytest.raises(InputError, match="cannot detect.*'actions' column"):
        read_annotations(write(tmp_path / "x.csv", "id,length\n"))
    with pytest.raises(InputError, match="no such file"):
        read_annotations(tmp_path / "missing.json")
    with pytest.raises(InputError, match="durations= only applies to multithumos_txt"):
        read_annotations(path, format="dense_json", durations={"v": 1.0})


def test_read_annotations_feeds_dense_targets(tmp_path):
    # The inclusive frame convention holds at a clipped end: the frame at exactly t = duration
    # carries the class.
    path = write(tmp_path / "c.csv", CHARADES_HEADER + charades_row("A", "c002 1.0 99.0", "4.0"))
    ann = read_annotations(path)[0]
    targets = dense_targets(ann, np.array([0.0, 1.0, 4.0]), num_classes=3)
    np.testing.assert_array_equal(targets[:, 2], [0.0, 1.0, 1.0])


def test_videos_of_an_unknown_subset_are_named_not_dropped_in_silence(tmp_path, caplog):
    import json as _json

    from tan_video.config import load_config
    from tan_video.data.split import read_split

    ann = tmp_path / "a.json"
    ann.write_text(_json.dumps({
        "v1": {"subset": "training", "duration": 2.0, "actions": [[0, 0.0, 1.0]]},
        "v2": {"subset": "train", "duration": 2.0, "actions": [[0, 0.0, 1.0]]},
        "v3": {"subset": "test", "duration": 2.0, "actions": []},
        "v4": {"subset": "testing", "duration": 2.0, "actions": []}}))
    cfg = load_config(None, [f"data.annotations={ann}", "data.format=dense_json"])
    with caplog.at_level("WARNING"):
        _, train, test = read_split(cfg)
    assert [a.video_id for a in train] == ["v1"] and [a.video_id for a in test] == ["v4"]
    assert "2 videos left out of training and testing" in caplog.text
    assert "1 x 'train'" in caplog.text and "1 x 'test'" in caplog.text
