"""Batch studies run without HELICS (``gridfed study STUDY.yaml``)."""
