"""The deployment's settings: one validated object read from the environment, below every other package."""
