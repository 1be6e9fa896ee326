"""A tiny deterministic world (random OpenAI-format CLIP weights, a miniature Caltech101 tree) on which
training runs of this code and of the original implementations can be compared step by step."""
