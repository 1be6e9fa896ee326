"""Building blocks shared by the trainers: backbone loading, prompt learners, losses, weight averaging
and the common training loop (class texts of a frozen CLIP: :mod:`clip.class_text`)."""
