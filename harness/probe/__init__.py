"""Spatial probes (``crossview probe``): verifiable RGB-D questions generated from any adapter's frames.

Five task types follow Spatial-SSRL (Liu et al., 2025, arXiv 2510.27606, section 3 "pretext tasks"; generation
scripts InternLM/Spatial-SSRL:data_process/Depth.py, Flip.py, Crop.py): regional depth ordering and relative 3D
position (RGB-D), shuffled patch reordering, flipped patch recognition and cropped patch inpainting (RGB). Every
answer follows from the frame itself (metric depth, masks, intrinsics, the generator's own permutation), so no
human label is needed and every item can be checked.

Modules: ``geometry`` (camera frame), ``frames`` (sampling frames from adapters), ``items`` (the item type,
prompts and strict answer parsing), ``marks`` (drawing), ``depth_tasks`` and ``patch_tasks`` (generation),
``answerers`` and ``chat`` (who answers), ``config``, ``store``, ``dataset`` (export), ``worker`` (an adapter in
its own process, with deadlines), ``runner`` and ``command`` (the CLI).
"""
