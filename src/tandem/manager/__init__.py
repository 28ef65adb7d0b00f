"""The decision core: observe -> decide (pure) -> act."""
