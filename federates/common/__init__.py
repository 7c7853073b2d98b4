"""Pieces several kinds share that belong to no kind: daily profiles and weather."""
