"""crossview adapter plugin: ViZDoom (see examples/vizdoom/README.md)."""
