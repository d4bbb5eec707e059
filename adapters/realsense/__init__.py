"""The real rig: an Intel RealSense camera (``camera``), a robot base plug-in (``robot``), and the adapter with the
operator's flow (``adapter``)."""
