"""The embedded toy world: Fashion-MNIST in CoOp layout plus two tiny CLIPs pretrained on it.

Without pretrained CLIP weights or the benchmark datasets, the whole pipeline can still run end to end on
a CPU. ``python -m tools.toy_world.build`` writes

* ``<root>/fashion_mnist/`` : the downstream dataset ``FashionMNIST`` (split JSON + PNG images) and a
  disjoint pretraining pool (``pretrain_pool.json``), see :mod:`tools.toy_world.prepare`;
* ``clip/ToyViT-S.pt`` and ``clip/ToyViT-L.pt`` : OpenAI-format state dicts of two small CLIPs of the
  project's architecture, contrastively pretrained on the pool, see :mod:`tools.toy_world.pretrain`.

The numbers obtained with them are toy numbers; real results need real weights.
"""
