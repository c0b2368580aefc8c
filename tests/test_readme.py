"""Every Python block of README.md runs as written (extracted here, so the two cannot drift)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_blocks():
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the blocks may write results/ into the working directory
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})
    assert capsys.readouterr().out  # each block prints what it shows


def test_every_image_and_local_link_of_the_readme_resolves():
    """The README's figure and the files it links exist in the repository (figures/gallery is
    rebuilt from the committed results by tools/gallery.py)."""
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    local = [t for t in targets if "://" not in t]
    assert any(t.endswith(".png") for t in local)
    missing = [t for t in local if not (README.parent / t).exists()]
    assert not missing, missing
