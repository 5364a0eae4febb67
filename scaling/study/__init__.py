"""Studies: a YAML spec expanded into runs, launched (local / Slurm / debug), watched and resumed.

Python entry points (the CLI and CI use the same ones):

    scaling.study.spec.load_spec(path) -> Spec;  expand(spec) -> [Run]   (run_id, name, config)
    scaling.study.launch.launch(spec, executor=None, only=(), max_parallel=None, force=False, dry_run=False)
    scaling.study.status.status(spec) -> [row];  study_status(study_dir) -> [row]
    scaling.study.results.study_evals(spec_or_dir) -> pandas.DataFrame   (scaling.store.load_evals: folders)

Study folder: <output>/<name>/{manifest.json, spec.yaml, runs/<run_id>/, logs/, local/, slurm/}.
"""
