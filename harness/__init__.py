"""crossview harness: shared types, sweep config, runner, store, CLI."""

__version__ = "0.1.0"
