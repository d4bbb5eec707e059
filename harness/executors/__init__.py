"""Executors run sweep workers: ``local`` (processes on this machine) and, for clusters, Ray."""
