"""Retrieval: embedders, the in-memory vector index, hard filters and interest vectors.

Importing this package loads no model and imports neither torch nor transformers.
"""
