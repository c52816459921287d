"""What every layer shares: the error hierarchy. It imports nothing of the project."""
