"""Command-line tools: result parsing, sweeps, the toy-world builder, the demo."""
