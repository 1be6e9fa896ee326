"""Check the project on a GPU with random full-size CLIP weights (``python -m tools.gpu_check --help``).

Pieces: :mod:`.weights` (random OpenAI-format weights), :mod:`.world` (the folder a check runs in),
:mod:`.commands` (the command lines), :mod:`.readme` (the CAPT README runs), :mod:`.steps` (one method at
each precision), :mod:`.report` (tables), :mod:`.cli` (the command).
"""
