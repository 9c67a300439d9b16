"""The two sampling-rate defaults every signature shares (one place, so they cannot drift apart).

DEFAULT_FPS: the paper's sampling rate (section 4.3: 4 FPS on Charades).
NATIVE_FPS: the frame rate of folders of extracted frames, which carry no timing of their own
(Charades' ``Charades_v1_rgb`` folders are 24 FPS); ``data.native_fps`` in a config overrides it.
"""

DEFAULT_FPS = 4.0
NATIVE_FPS = 24.0
