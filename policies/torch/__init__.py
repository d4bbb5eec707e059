"""Torch checkpoints: safe loading with manifests (``loading``), the cross-view network (``xview``)."""
