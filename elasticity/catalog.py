"""The runs in a results folder and one run as a typed object: ``elasticity runs RESULTS_DIR``
and ``elasticity.load(run_dir)``. Everything is read through the store's checked reader, so a
damaged or swapped result is refused, never served."""

from dataclasses import dataclass
from pathlib import Path

from elasticity import findings
from harness import store


@dataclass(frozen=True)
class Result:
    """A finished run: its experiment, id, stored configuration and the whole result document."""

    folder: Path
    experiment: str
    run_id: str
    config: dict
    document: dict

    @property
    def verdict(self) -> str | None:
        return self.document.get("verdict")

    def summary(self) -> list[dict]:
        """The run's quantities as numbers (as ``elasticity export --table summary``)."""
        from elasticity import export

        return export.summary(self.folder)

    def per_seed(self):
        """Every per-seed value the verdict reads: a pandas DataFrame where pandas is installed,
        else a list of dicts (counterfactual results have them)."""
        from elasticity import export

        rows = export.per_seed(self.folder)
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def figure(self, name: str):
        """The matplotlib figure ``name`` of this run (e.g. "counterfactual_effect"), built from
        the stored result only."""
        from figures import build

        plots = dict(build.PER_RESULT).get(self.experiment)
        if plots is None:
            raise ValueError(f"{self.experiment} results have no figures")
        made = plots(self.run_id, self.document, self.folder)
        for figure_name, figure, _ in made:
            if figure_name in (name, f"{name}_{self.run_id}"):
                return figure
        known = ", ".join(n.removesuffix(f"_{self.run_id}") for n, _, _ in made)
        raise ValueError(f"no figure {name!r} for {self.run_id}; this run has {known}")


def load(run_dir) -> Result:
    """The finished run in ``run_dir`` (results/<experiment>/<run_id>), checked as every read is."""
    folder = Path(run_dir)
    if not (folder / store.RESULT_FILE).is_file():
        raise store.StoreError(f"{folder} has no {store.RESULT_FILE}: not a finished run")
    doc = store.read_result(folder, experiment=folder.parent.name)
    return Result(folder, doc["experiment"], doc["run_id"], doc["config"], doc)


def runs(root) -> list[dict]:
    """One row per run under ``root``: experiment, run id, preset (the one its stored config
    equals, if any), seeds, verdict, grade, when it finished, commit, numerics, trainer; or the
    reason it could not be read."""
    rows = []
    for path in sorted(Path(root).glob(f"*/*/{store.RESULT_FILE}")):
        try:
            result = load(path.parent)
        except (store.StoreError, ValueError) as err:
            rows.append({"experiment": path.parent.parent.name, "run_id": path.parent.name, "error": str(err)})
            continue
        rows.append(_row(result))
    return rows


def _row(result: Result) -> dict:
    doc, prov = result.document, result.document.get("provenance", {})
    experimental = findings.seed_count(doc) > 0  # an experiment over seeds (or worlds), not a computation
    return {"experiment": result.experiment, "run_id": result.run_id, "preset": findings.preset_of(doc),
            "seeds": findings.seed_count(doc) if experimental else None, "verdict": result.verdict,
            "grade": findings.grade_of(doc) if experimental else None,
            "finished": prov.get("finished_utc"), "wall_time_s": prov.get("wall_time_s"),
            "commit": (prov.get("git_sha") or "")[:10] or None, "clean": prov.get("git_dirty") is False,
            "numerics": prov.get("numerics", "default"),
            "trainer": result.config.get("trainer")}  # None: the experiment has no trainer choice
