"""Losses and their minimizers, one file per family."""
