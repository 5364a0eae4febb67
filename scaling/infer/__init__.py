"""Inference-time scaling: many samples per prompt stored per checkpoint, pass@k / maj@k curves, the
coverage law, s1 budget forcing, and the trade-off between training compute and inference compute.

Layering: `estimators`, `coverage`, `curves` and `tradeoff` are pure (numpy/scipy/pandas, no torch);
`budget` and `sampling` drive the trainer's sampler (scaling.rl.rollout) and sit above rl and store.
"""
