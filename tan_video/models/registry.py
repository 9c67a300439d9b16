"""A registry of model builders by name: ``create_model("tan_r50", num_classes=157)``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

from torch import nn

from ..errors import InputError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name; a second builder with the same name is a bug."""
    name = fn.__name__
    if name in _BUILDERS:
        raise ValueError(f"model {name!r} is already registered")
    _BUILDERS[name] = fn
    return fn


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, sorted; ``pattern`` filters them shell-style (``"tan_*"``,
    ``"*3d"``)."""
    if pattern is None:
        return sorted(_BUILDERS)
    import fnmatch

    return sorted(n for n in _BUILDERS if fnmatch.fnmatchcase(n, pattern))


def model_arguments(name: str) -> dict[str, object]:
    """The keyword arguments a builder takes, with their defaults."""
    return {p.name: p.default for p in inspect.signature(_builder(name)).parameters.values()}


CHANGED_DEFAULTS: dict[str, object] = {"stem_pool": True}
"""Builder arguments whose default changed after checkpoints had been written, with the default
before the change (``stem_pool``: the tiny models' stem max-pool, off by default since
2026-12-04). A model records their effective value in ``build_args``; a checkpoint without one was
built with the old default (:func:`with_old_defaults`)."""


def recorded_args(name: str, kwargs: dict) -> dict:
    """``kwargs`` plus the effective value of each :data:`CHANGED_DEFAULTS` argument the builder takes."""
    defaults = model_arguments(name)
    return {**{k: defaults[k] for k in CHANGED_DEFAULTS if k in defaults}, **kwargs}


def with_old_defaults(name: str, args: dict) -> dict:
    """Build arguments read from a checkpoint, with the old default of each
    :data:`CHANGED_DEFAULTS` argument it lacks (it was written before that default changed)."""
    defaults = model_arguments(name)
    return {**{k: old for k, old in CHANGED_DEFAULTS.items() if k in defaults}, **args}


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in _BUILDERS:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _BUILDERS[name]


def create_model(name: str, num_classes: int | None = None, pretrained: "str | Path | None" = None,
                 **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: one of :func:`list_models`.
        num_classes: K, outputs per frame; None keeps the builder's default (157, Charades, for the
            paper's models; 16 for the tiny ones).
        pretrained: ``None`` (random 2D init; temporal modules identity), ``"imagenet"`` (the
            torchvision ImageNet ResNet of the model's depth, downloaded once, hash-checked), or a
            path to a state dict in torchvision's ResNet layout.
        **kwargs: builder arguments, e.g. ``levels=(3, 4)`` or ``dilations=(1,)`` for TAN models.

    The model records how it was built in ``model.build_args`` so checkpoints can rebuild it.
    """
    builder = _builder(name)
    if num_classes is not None:
        kwargs = {"num_classes": num_classes, **kwargs}
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError:
        known = model_arguments(name)
        rejected = sorted(k for k in kwargs if k not in known) or sorted(kwargs)  # (or a missing argument)
        allowed = ", ".join(k for k in known if k != "num_classes")
        raise InputError(f"model {name!r} does not take {', '.join(rejected)}; it takes: {allowed}") from None
    try:
        model = builder(**kwargs)
    except ValueError as e:
        raise InputError(f"model {name!r}: {e}") from None
    model.build_args = {"name": name, "num_classes": model.num_classes, **recorded_args(name, kwargs)}
    from .bf16 import guard_bf16_convolutions

    guard_bf16_convolutions(model)  # right gradients under bf16 on every CPU (tan_video.models.bf16)
    if pretrained is not None:
        from .weights import load_pretrained

        if pretrained == "imagenet":
            weights = getattr(model, "imagenet_weights", None)
            if weights is None:
                raise InputError(f"model {name!r} has no ImageNet weights; pass pretrained=None or a file path")
            model.load_report = load_pretrained(model, weights)
        else:
            model.load_report = load_pretrained(model, Path(pretrained))
    return model
