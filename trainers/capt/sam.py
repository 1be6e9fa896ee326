"""SAM, the Sample Confusion Miner: bank retrieval (:mod:`.retrieval`) and the Diff-Manner Adapter
(:mod:`.adapter`); the bank images themselves come from :mod:`.images`."""

from .adapter import AdapterSet, DiffMannerAdapter, dynamic_alpha
from .images import BankImages
from .retrieval import BankRetriever

__all__ = ["AdapterSet", "BankImages", "BankRetriever", "DiffMannerAdapter", "dynamic_alpha"]
