"""Building blocks shared by the trainers: backbone loading, class-text encoding, prompt learners,
losses, weight averaging and the common training loop."""
