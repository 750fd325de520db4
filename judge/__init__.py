"""The judge: is a difference from the oracle roundoff, or a bug? Roundoff-aware verdicts
(roundoff.py), first-order bounds for a whole training step (bounds.py), finite-difference
gradient checks with reports (gradcheck.py), and tolerances.toml with every number's
derivation (tolerances.py)."""
