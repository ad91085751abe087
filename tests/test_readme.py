"""The README opens with the two fresh-machine commands, and CI runs the second verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _opening_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_the_demo_and_the_test_command() -> None:
    demo, tests = _opening_commands()
    assert demo.startswith("python3 -m venv .venv && ")
    assert demo.endswith(" && .venv/bin/vqaft demo")
    assert '".[local,plot]"' in demo
    assert tests.endswith(" && .venv/bin/pytest -q")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, tests = _opening_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci


def test_readme_images_and_doc_links_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|examples)/[^)#\s]+)", text)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert missing == []
