"""The README and docs/*.md link to each other by relative paths: every such link names a file that
exists and, with an anchor, a heading of that file (GitHub's slugs). The README's test command is CI's."""
import glob
import os
import re

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_files():
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def outside_code(text):
    """The lines of a markdown text that are not inside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def slug(heading):
    """GitHub's anchor for a heading: inline markup dropped, lowercase, punctuation other than hyphens
    (and underscores, which GitHub keeps as word characters) removed, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every heading's anchor in a markdown file; a repeated slug gets -1, -2, ... as on GitHub."""
    seen, found = {}, set()
    with open(path, encoding="utf-8") as f:
        for line in outside_code(f.read()):
            match = HEADING.match(line)
            if not match:
                continue
            base = slug(match.group(2))
            name = base if base not in seen else f"{base}-{seen[base]}"
            seen[base] = seen.get(base, 0) + 1
            found.add(name)
    return found


def broken_links(path):
    """The relative links of one markdown file that name a missing file or a missing heading."""
    with open(path, encoding="utf-8") as f:
        text = "\n".join(outside_code(f.read()))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(linked):
            broken.append(f"{target}: no file {os.path.relpath(linked, ROOT)}")
        elif anchor and (not linked.endswith(".md") or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(linked, ROOT)}")
    return broken


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_resolve(path):
    assert broken_links(path) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A title, with `code`\n\n## Same\n\n## Same\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#a-title-with-code) [ok](docs/a.md#same-1) [ok](#top)\n"
                    "[gone](docs/b.md) [bad](docs/a.md#nothing) [bad](#nowhere) [web](https://x.org/#y)\n"
                    "```\n[in code](missing.md)\n```\n# Top\n", encoding="utf-8")
    broken = broken_links(str(page))
    assert [line.split(": ")[0] for line in broken] == ["docs/b.md", "docs/a.md#nothing", "#nowhere"], broken
    assert "no file" in broken[0] and "no heading #nothing" in broken[1]


def test_slugs_follow_github():
    assert slug("What makes random styles vivid and the X2Y colour right (bench/ablation.sh, last rows)") == \
        "what-makes-random-styles-vivid-and-the-x2y-colour-right-benchablationsh-last-rows"
    assert slug("Multi-GPU, precision, input pipeline") == "multi-gpu-precision-input-pipeline"
    assert slug("First run: the offline demo") == "first-run-the-offline-demo"


def test_ci_runs_the_readmes_test_command():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    command = "python -m pytest -q --durations=15 tests"
    assert f"\n{command}\n" in readme and ci.rstrip().endswith(command)
