"""CaPT (class-adaptive prompt tuning): TCI extraction, meta-net, margin loss, the plug-in, its trainers.

Module map: :mod:`~trainers.ucp.tci` (class text features and their cache), :mod:`~trainers.ucp.meta_net`,
:mod:`~trainers.ucp.margin_loss`, :mod:`~trainers.ucp.plugin` (the one conditioning module, which fills a
prompt learner's offsets slot), :mod:`~trainers.ucp.trainers`
(``UCPCoOp``, ``UCPKgCoOp``, ``UCPProGrad``, ``UCPDAPT``, ``UCPKgCoOpDePT``).
"""
