"""The documentation site builds without warnings, and every tutorial code block runs.

Tutorial blocks run doctest-style: the ```python blocks of one page run in order in one namespace,
in a fresh interpreter with a scratch working directory. A block preceded by a line
``<!-- not-run -->`` (one that needs an account or network) is only compiled, and its page must say
why it is not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
NOT_RUN = "<!-- not-run -->"
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)

# Runs the blocks of one page: each is compiled with the page's name and its line numbers, so a
# failure's traceback points into the Markdown.
RUNNER = """
import json, sys
ns = {"__name__": "__tutorial__"}
for path, line, code in json.load(open(sys.argv[1])):
    exec(compile("\\n" * (line - 1) + code, path, "exec"), ns)
"""


def code_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(first code line, code, runs)`` for every ```python block of a Markdown page."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        line = text.count("\n", 0, match.start(2)) + 1
        blocks.append((line, match.group(2), before != NOT_RUN))
    return blocks


def test_code_blocks_parse_fences_and_markers() -> None:
    text = "intro\n```python\na = 1\n```\n\n<!-- not-run -->\n```python\nb = 2\n```\n```sh\nls\n```\n"
    assert code_blocks(text) == [(3, "a = 1\n", True), (8, "b = 2\n", False)]


def test_every_module_has_a_reference_entry() -> None:
    documented = set()
    for page in (ROOT / "docs" / "reference").glob("*.md"):
        documented |= set(re.findall(r"^::: (\S+)", page.read_text(), re.M))
    modules = set()
    for src in ROOT.glob("qstore-*/src"):
        for path in src.rglob("*.py"):
            parts = path.relative_to(src).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            if not any(p.startswith("_") for p in parts):
                modules.add(".".join(parts))
    assert modules - documented == set(), "add these modules to a page of docs/reference/"
    assert documented - modules == set(), "these reference entries name no module"


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    reference = (tmp_path / "reference" / "torch" / "index.html").read_text()
    assert 'id="qstore.torch.layer.QuantumLayer"' in reference
    for page in TUTORIALS:
        assert (tmp_path / "tutorials" / page.stem / "index.html").exists()


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_not_run_blocks_compile_and_are_explained(page: Path) -> None:
    text = page.read_text()
    assert text.count(NOT_RUN) == sum(not runs for _, _, runs in code_blocks(text)), (
        f"{page.name}: {NOT_RUN} must stand on the line right before a ```python block"
    )
    for line, code, runs in code_blocks(text):
        compile("\n" * (line - 1) + code, str(page), "exec")
        if not runs:
            assert "not run" in text.replace("-", " ").lower().replace(NOT_RUN, ""), (
                f"{page.name}: say in the text why the block at line {line} is not run"
            )


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_code_blocks_run(page: Path, tmp_path: Path) -> None:
    runnable = [(str(page), line, code) for line, code, runs in code_blocks(page.read_text()) if runs]
    assert runnable, f"{page.name} has no runnable python block"
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps(runnable))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(blocks)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
