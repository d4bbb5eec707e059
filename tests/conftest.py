"""Shared test setup: quiet Gymnasium warnings, and tests never write outside tmp_path."""

import warnings

warnings.filterwarnings("ignore", module="gymnasium")


def pytest_sessionfinish(session, exitstatus):
    """Stop the protocol servers the tests started (AirSim, UnrealCV stand-ins)."""
    from tests.servers.fixtures import stop_all

    stop_all()
