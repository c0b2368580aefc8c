"""Rebuild figures/gallery/ (the PNGs the README shows) from the committed result files:

    .venv/bin/python tools/gallery.py

Every figure the fixtures allow is built (as ``elasticity figures tests/fixtures/results``
does) and its PNG copied under a name without the run id's hash, so that the README can link
it; the gallery's old PNGs are removed first, so nothing in it outlives the results it came from.
"""

import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from figures.build import build_all  # noqa: E402

GALLERY = ROOT / "figures" / "gallery"
HASH = re.compile(r"(-portable)?-[0-9a-f]{10}$")  # the configuration's hash in a default run id


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        built, skipped = build_all(ROOT / "tests" / "fixtures" / "results", Path(tmp))
        GALLERY.mkdir(exist_ok=True)
        for old in GALLERY.glob("*.png"):
            old.unlink()
        for entry in built:
            shutil.copy(Path(tmp) / f"{entry['name']}.png", GALLERY / f"{HASH.sub('', entry['name'])}.png")
    for item in skipped:
        print(f"skipped {item['figure']}: {item['reason']}")
    print(f"gallery: {len(built)} figures in {GALLERY.relative_to(ROOT)}")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
