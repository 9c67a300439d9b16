"""The docs stay true to the code: links resolve, shown commands parse, runnable snippets run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tan_video.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links():
    for page in PAGES:
        text = FENCE.sub("", page.read_text())
        for m in LINK.finditer(text):
            target = m.group(1) or m.group(2)
            if not re.match(r"^[a-z]+://|^mailto:", target):
                yield page, target


def test_pages_exist():
    names = {p.name for p in PAGES}
    for page in ("getting-started.md", "models.md", "data.md", "training.md", "evaluation.md", "predict.md",
                 "benchmark.md", "performance.md", "design.md", "contributing.md", "features.md"):
        assert page in names, page
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page,target", list(links()), ids=lambda v: str(v)[-40:])
def test_every_relative_link_resolves(page, target):
    path, _, anchor = target.partition("#")
    dest = (page.parent / path).resolve() if path else page
    assert dest.exists(), f"{page.name}: {target} does not exist"
    if anchor and dest.suffix == ".md":
        assert anchor in anchors(dest), f"{page.name}: no heading for #{anchor} in {dest.name}"


def command_lines():
    """``tan-video ...`` lines of bash blocks (continuations joined, comments dropped); synopsis
    lines with ``[optional]`` or ``A|B`` notation are not commands."""
    for page in PAGES:
        for lang, body in FENCE.findall(page.read_text()):
            if lang not in ("bash", "sh", ""):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.strip()
                if not line.startswith("tan-video "):
                    continue
                words = shlex.split(line, comments=True)
                if any(ch in line.split("#")[0] for ch in "[|<") or "..." in words:
                    continue
                yield page.name, words


COMMANDS = list(command_lines())


def test_docs_show_commands_for_every_job():
    jobs = {words[1] for _, words in COMMANDS}
    assert {"demo", "train", "evaluate", "predict", "export", "viz", "bench"} <= jobs, jobs


@pytest.mark.parametrize("page,words", COMMANDS, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else v)
def test_every_command_shown_is_accepted_by_the_parser(page, words):
    try:
        args = build_parser().parse_args(words[1:])
    except SystemExit as e:
        pytest.fail(f"{page}: `{' '.join(words)}` is rejected by the parser (exit {e.code})")
    assert args.command == words[1]


def runnable_snippets():
    for page in PAGES:
        for m in re.finditer(r"<!-- runnable -->\s*```python\n(.*?)```", page.read_text(), re.S):
            yield page.name, m.group(1)


SNIPPETS = list(runnable_snippets())


def test_there_are_runnable_snippets():
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("page,code", SNIPPETS, ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_runnable_snippets_run(page, code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{page} snippet", "exec"), {"__name__": "__snippet__"})
