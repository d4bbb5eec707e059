"""ROCKET-2 / ROCKET-3 and any other MineStudio policy (``kind: rocket`` / ``kind: minestudio``), run in MineStudio's
own environment (``nox -s minestudio``); the VPT action conversion (``actions``) is pure and always available."""
