"""crossview adapters: one module or folder per backend behind the Adapter protocol (adapters.base).

Importing this package registers every adapter with Gymnasium as ``crossview/<Name>-v0``.
"""

from adapters.gym_env import register_envs

register_envs()
