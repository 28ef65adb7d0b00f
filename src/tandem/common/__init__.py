"""What every layer shares: event kinds, the error root, the typed status and its schema.

Nothing here imports another tandem package, so any layer may import it.
"""
