"""oraclenet.regress: regression runs before submission. A baseline records trajectories,
their roundoff ensembles, correctness fingerprints, outcomes and speed; a check reruns them
and decides, by ensemble consistency and rank tests, whether a change altered anything
beyond roundoff or made anything slower.

    trajectory.py   a run reduced to quantities at checkpoints; the oracle's roundoff ensemble
    consistency.py  the ensemble consistency test (Hotelling's T^2 on principal components)
    subjects.py     the runs a baseline covers, made the way users start them
    fingerprints.py worst ratios of correct runs, precision models of kernels and GEMMs
    machine.py      the machine's fingerprint and the provenance
    speed.py        timings against a probe, one process per sample, and the rank test
    speed_worker.py internal: the fresh process that takes one speed sample
    baseline.py     the baseline's files, and each decision against them
    session.py      regress record and regress check, and the report
"""
