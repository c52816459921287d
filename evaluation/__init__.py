"""Evaluation, outside the product: ReDial replay through the live reading and ranking, fitting the hybrid ranker
and fine-tuning the embedder on dialogues, baselines, the simulated seeker and the scripted dialogue suite.

It is handed the product's engine and catalog and imports `chat`; nothing in `chat` imports it.
"""
