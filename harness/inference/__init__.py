"""Shared inference (``inference: shared``): one batching policy process per policy copy serves every worker's slots.

- ``shm``: arrays travel through a worker's shared-memory segment, written once; control messages are msgpack.
- ``server``: the policy process (dynamic batching across workers, per-slot recurrent state keyed by worker and slot).
- ``client``: the worker's side, a ``Policy`` that forwards to the policy process.
- ``pool``: the driver's side, which starts, watches (deadline, liveness) and restarts policy processes.
"""
