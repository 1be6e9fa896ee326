"""Name -> class/function registries (the registered name is ``obj.__name__``)."""

__all__ = ["Registry"]


class Registry:
    """A mapping from names to objects, filled with ``@REGISTRY.register()``.

    Example::

        BACKBONE_REGISTRY = Registry("BACKBONE")

        @BACKBONE_REGISTRY.register()
        class MyBackbone(nn.Module): ...

        cls = BACKBONE_REGISTRY.get("MyBackbone")
    """

    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def _do_register(self, name, obj, force=False):
        if name in self._obj_map and not force:
            raise KeyError(
                f"'{name}' is already registered in the {self._name} registry (use force=True to replace)"
            )
        self._obj_map[name] = obj

    def register(self, obj=None, force=False):
        """Register ``obj``, or return a decorator when called without it."""
        if obj is None:

            def wrapper(fn_or_class):
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return wrapper
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def get(self, name):
        if name not in self._obj_map:
            raise KeyError(f"'{name}' is not registered in the {self._name} registry")
        return self._obj_map[name]

    def registered_names(self):
        return list(self._obj_map.keys())

    def __contains__(self, name):
        return name in self._obj_map
