"""Minecraft through MineStudio's MinecraftSim: tasks (``tasks``), goal masks by projecting voxel boxes
(``projection``), the common action as MineRL env actions (``actions``), the adapter itself (``adapter``)."""
