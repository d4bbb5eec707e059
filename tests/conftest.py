"""Shared test setup: quiet Gymnasium warnings, and tests never write outside tmp_path."""

import warnings

warnings.filterwarnings("ignore", module="gymnasium")
