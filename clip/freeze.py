"""Freezing and trainable-parameter collection: modules declare what trains, one call applies it."""

from torch import nn


def freeze(*modules: nn.Module) -> None:
    """Set ``requires_grad = False`` on every parameter of the given modules."""
    for module in modules:
        module.requires_grad_(False)


def trainable_params(*modules: nn.Module) -> list[nn.Parameter]:
    """Parameters the modules declare trainable: ``module.trainable_params()`` when defined, else the
    parameters that currently require gradients. Shared parameters appear once."""
    seen, result = set(), []
    for module in modules:
        params = module.trainable_params() if hasattr(module, "trainable_params") else [
            p for p in module.parameters() if p.requires_grad]
        for param in params:
            if id(param) not in seen:
                seen.add(id(param))
                result.append(param)
    return result


def set_trainable(root: nn.Module, *trainable: nn.Module) -> list[str]:
    """Freeze ``root`` except the parameters declared by ``trainable`` (which are switched on).

    Returns the names (within ``root``) of the parameters that now require gradients, for logging.
    """
    declared = trainable_params(*trainable)
    freeze(root)
    for param in declared:
        param.requires_grad_(True)
    return [name for name, param in root.named_parameters() if param.requires_grad]
