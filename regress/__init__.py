"""oraclenet.regress: regression runs before submission. A baseline records trajectories,
their roundoff ensembles, correctness fingerprints, outcomes and speed; a check reruns them
and decides, by ensemble consistency and rank tests, whether a change altered anything
beyond roundoff or made anything slower.

    trajectory.py   a run reduced to per-step quantities; the oracle's roundoff ensemble
    consistency.py  the ensemble consistency test (Hotelling's T^2 on principal components)
"""
