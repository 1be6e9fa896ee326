"""Dassl-compatible training engine for CLIP prompt tuning.

Module paths, names, log lines and checkpoint layout follow Dassl.pytorch so
that trainers and datasets written against it run unchanged. Importing this
package has no side effects on logging, stdout or random state.
"""

__version__ = "0.6.3"
