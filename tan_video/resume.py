"""A resumed run is the same run: what a checkpoint must hold beyond the model and the optimiser.

Lightning saves the model, the optimiser, the LR scheduler and the loop counters. What else
decides the rest of a run:

- **The data.** The training order and every clip's random crop, flip and position come from
  :class:`~tan_video.data.datasets.EpochOrder`: a function of ``(seed, epoch, position)``, so
  they need no saved state, only *where* the run stopped: the epoch and how many batches of it
  were done. :class:`ResumeState` records that; on resume the order skips the finished batches.
- **The random generators of every process.** Python's, NumPy's and torch's (CPU and CUDA)
  global generators drive dropout and anything else drawn during a step. :class:`ResumeState`
  saves each rank's states (gathered to the checkpoint under DDP) and restores each rank's own
  when training starts again.
- DataLoader workers draw nothing that matters (every item carries its seed), and their base
  seed comes from the loader's own generator, so the number of workers does not change a run.

A resume on a different number of processes cannot be the same run (the order is sharded per
rank): it continues, from the saved epoch, with a warning.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import lightning as L
import numpy as np
import torch

log = logging.getLogger(__name__)


def rng_states() -> dict[str, Any]:
    """This process's global generators: Python, NumPy, torch CPU and (when there is one) CUDA.

    Only tensors and plain Python values, so that a checkpoint still loads with
    ``torch.load(weights_only=True)``.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"python": random.getstate(), "torch": torch.get_rng_state(),
              "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _gather(obj: Any, world_size: int) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` without a process group)."""
    if world_size <= 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return [obj]
    out: list[Any] = [None] * world_size
    torch.distributed.all_gather_object(out, obj)
    return out


class ResumeState(L.Callback):
    """Where the run is (the next epoch and batch) and every rank's generator states, in the checkpoint.

    Lightning runs checkpoint callbacks last, so when a checkpoint is written at the end of a
    batch or an epoch this callback has already recorded it. :attr:`next_epoch` and
    :attr:`next_batch` say where training continues; the data module reads them when it builds
    the training order (:meth:`start`).
    """

    def __init__(self) -> None:
        self.next_epoch, self.next_batch = 0, 0
        self._loaded: dict[str, Any] | None = None
        self._trainer = None

    def start(self, world_size: int) -> tuple[int, int]:
        """``(epoch, batches to skip)`` for the order being built; ``(epoch, 0)`` when the saved run
        had a different number of processes."""
        if self._loaded is not None and self._loaded.get("world_size", 1) != world_size:
            return self.next_epoch, 0
        return self.next_epoch, self.next_batch

    # -- recording where the run is -------------------------------------------------------------
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.next_epoch, self.next_batch = trainer.current_epoch, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:
            self.next_epoch, self.next_batch = trainer.current_epoch + 1, 0
        else:
            self.next_epoch, self.next_batch = trainer.current_epoch, batch_idx + 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.next_epoch, self.next_batch = trainer.current_epoch + 1, 0

    # -- the checkpoint -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        trainer = self._trainer
        world = trainer.world_size if trainer is not None else 1
        return {"next_epoch": self.next_epoch, "next_batch": self.next_batch, "world_size": world,
                "rng": _gather(rng_states(), world)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._loaded = state_dict
        self.next_epoch, self.next_batch = int(state_dict["next_epoch"]), int(state_dict["next_batch"])

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._trainer = trainer

    def on_train_start(self, trainer, pl_module) -> None:
        """Restore this rank's generators, after everything that set up the run drew from them."""
        state, self._loaded = self._loaded, None
        if state is None:
            return
        saved_world = state.get("world_size", 1)
        if saved_world != trainer.world_size:
            log.warning("the checkpoint was written by %d processes, this run has %d: it continues from epoch %d, "
                        "but not as the same run (the data order is sharded per process)", saved_world,
                        trainer.world_size, self.next_epoch)
            return
        set_rng_states(state["rng"][trainer.global_rank])


__all__ = ["ResumeState", "rng_states", "set_rng_states"]
