"""Unreal Engine: through AirSim / Cosys-AirSim (``airsim``) and through UnrealCV, as UnrealZoo uses (``unrealcv``).
Task suites, motion and success rules shared by both routes live in ``common``."""
