"""Small shared building blocks (process running, time) used across layers."""
