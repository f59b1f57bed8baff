"""Numerical building blocks shared by every family (solvers that know nothing of the papers)."""
