"""Shared inference (``inference: shared``): one batching policy copy per device serves every worker's slots.

- ``core``: the transport-independent part (policies, seats, goals, the act queue and batching decisions).
- ``shm``: arrays travel through a worker's shared-memory segment, written once; control messages are msgpack.
- ``server``: the policy process on one machine (Unix sockets around ``core``).
- ``ray_actor``: the policy copy as a Ray actor (``core`` behind an asyncio actor), its client and the driver's pool.
- ``client``: the worker's side, a ``Policy`` that forwards to the policy copy.
- ``pool``: the driver's side on one machine, which starts, watches (deadline, liveness) and restarts policy
  processes.
"""
