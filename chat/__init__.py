"""Chat: settings, dialogue state, understanding, policy, replies and the language-model backends.

Importing this package imports neither torch, transformers nor gradio; models load lazily.
"""
