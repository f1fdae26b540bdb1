"""Thin PyTorch trainers that read corpusforge shards (see the Trainers issue)."""
