"""The generic probe (``overparam.probe``): the theory's measurements (curvature along the step, PL ratio,
sharpness, Hessian trace and spectral density, NTK extremes, laziness) on any pure JAX model,
through the same engine, store and report as the papers' families (docs/probe.md)."""
