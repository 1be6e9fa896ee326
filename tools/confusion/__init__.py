"""Confusion tools: build / inspect a Confusion Bank, compare the errors of two runs, pair prompts."""
