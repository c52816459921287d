"""Front ends (adapters only): the `concierge` CLI and the Gradio web app."""
