"""The paper's model, top-down in one file: the blocks, the TA module (section 3.2, Fig. 2), the
Temporal Aggregation Network (section 3.4, Fig. 3) and its registered builders.

::

    clip (B, 3, T, H, W) -> frames folded into the batch (B*T, 3, H, W)
    stem      conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2           per frame
    level 1   layer1: n1 bottlenecks -> ta1: TemporalAggregation(256)   over T, every pixel
    level 2   layer2: n2 bottlenecks (first 3x3 stride 2) -> ta2 (512)
    level 3   layer3: n3 bottlenecks (first 3x3 stride 2) -> ta3 (1024)
    level 4   layer4: n4 bottlenecks (first 3x3 stride 2) -> ta4 (2048)
    head      spatial average pool -> dropout -> fc -> frame logits (B, T, K)

No temporal stride anywhere: every input frame gets its own output. The 2D path keeps
torchvision's ResNet state-dict names (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``fc``), so
ImageNet files load by name; the temporal modules live beside it as ``ta1`` ... ``ta4``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .bf16 import conv1d as bf16_safe_conv1d
from .bf16 import conv2d as bf16_safe_conv2d
from .packing import PackedConv2d
from .registry import register_model
from .weights import IMAGENET_RESNET

LEVELS = (1, 2, 3, 4)


# -- the per-frame blocks (paper section 3.3), torchvision's names ---------------------------------
def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def check_clip(x) -> None:
    """What a video model's ``forward`` takes: a float tensor ``(B, 3, T, H, W)``, ImageNet-normalised
    (``tan_video.data.transforms.normalize`` turns uint8 frames into one). A wrong input is one
    message saying what was given and how to fix it, not an error from deep inside a layer."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor clip (B, 3, T, H, W), got {type(x).__module__}.{type(x).__name__} "
                        "(torch.from_numpy(frames) for an array)")

    def got() -> str:
        return f"{str(x.dtype).replace('torch.', '')} {tuple(x.shape)}"

    if x.dim() != 5:
        raise ValueError(f"expected a clip (B, 3, T, H, W), got {got()}")
    if x.shape[1] != 3:
        hint = (": frames as read_video returns them are (T, H, W, 3); x.permute(0, 4, 1, 2, 3) makes a clip of "
                "a batch of them" if x.shape[-1] == 3 else "")
        raise ValueError(f"expected a clip (B, 3, T, H, W) with 3 colour channels in dim 1, got {got()}{hint}")
    if not x.is_floating_point():
        raise ValueError(f"expected float frames, ImageNet-normalised, got {got()}: "
                         "tan_video.data.transforms.normalize(clip) converts uint8 frames")
    if x.dtype == torch.float64:
        raise ValueError(f"expected float32 (or bf16/fp16) frames, got {got()}: x.float()")
    if x.shape[2] == 0:
        raise ValueError(f"the clip has no frames: {got()}")


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck, per frame: 1x1 -> 3x3 (stride here) -> 1x1 (x4), plus shortcut.

    Attribute names (``conv1``, ``bn1``, ..., ``downsample.0``) are torchvision's, so ImageNet
    ResNet state dicts load by name.  Input / output ``(N, C, H, W)`` with ``N = B*T``.
    """

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = norm_layer(planes)
        self.conv3 = conv1x1(planes, out_ch)
        self.bn3 = norm_layer(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class BasicBlock(nn.Module):
    """ResNet-18/34 basic block, per frame: 3x3 (stride here) -> 3x3, plus shortcut.

    torchvision's attribute names (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``).
    The tiny models use it: at one block per level it gives every level a 3x3 spatial
    context for a fraction of a bottleneck's width. Input / output ``(N, C, H, W)``.
    """

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = norm_layer(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


# -- the Temporal Aggregation module (paper section 3.2, Fig. 2) ------------------------------------
TA_INITS = ("open", "identity", "zero")


class TemporalAggregation(nn.Module):
    """Temporal Aggregation module (paper section 3.2, Fig. 2)::

                       x  (B, C, T, H, W)
          +-----------+-----------+-----------+
          |           |           |           |
        identity   conv_t d=1  conv_t d=2  conv_t d=3     each C->C, kernel (k,1,1),
          |           |           |           |           padding d*(k-1)/2: T unchanged
          +---------- sum --------+-----------+
                       |
                      ReLU

    Every ``conv_t`` mixes all channels and is applied at every spatial position. Computed as
    ``ReLU(x + BN(sum_d conv_t,d(x)))`` (or without the BN for ``init="zero"``).

    ``init``, how the module starts (docs/models.md, "How the TA modules start"):

    - ``"open"``: random branches behind a BatchNorm of scale 1: the module mixes time at full
      strength from the first step. For a network trained from scratch, where there are no
      per-frame features to protect (measured: a tiny TAN learns motion in a few hundred steps
      open, none closed).
    - ``"identity"``: the same with the BatchNorm's scale at zero: the module is the identity (after
      the ReLU, which is the identity on the non-negative ResNet features it follows), so a TAN
      built from 2D ImageNet weights computes exactly the per-frame ResNet; an optimiser step then
      changes its output by about ``lr`` times a unit-variance signal, whatever the width.
    - ``"zero"``: no BatchNorm, zero branches (the paper's literal reading). Adam moves every
      weight by about ``lr`` in its first steps, all in step, so a module with ``3 * 3 * C``
      inputs per output adds up to the order of ``lr * 9 * C`` times its input (README, "TA
      initialisation").

    Implementation: the three branches are computed as *one* temporal convolution of kernel
    ``(k-1)*max(d)+1`` (7 for the paper's module) whose taps are the branches' weights placed at
    their offsets (:meth:`branch_kernel`, differentiable, so training gets the same gradients as
    three convolutions, for 7/9 of the multiply-adds and one kernel call instead of three). The
    convolution runs as a 2D conv with kernel ``(k, 1)`` over ``(B, C, T, H*W)``, which in
    channels_last memory needs no copy. :meth:`fuse` folds the identity and the eval-mode
    BatchNorm in too, for inference.
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 2, 3),
                 init: str = "open"):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep T unchanged, got {kernel_size}")
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be positive integers, got {tuple(dilations)}")
        if init not in TA_INITS:
            raise ValueError(f"ta_init must be one of {', '.join(TA_INITS)}, got {init!r}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.dilations = tuple(int(d) for d in dilations)
        self.convs = nn.ModuleList(
            nn.Conv2d(
                channels,
                channels,
                kernel_size=(kernel_size, 1),
                dilation=(d, 1),
                padding=(d * (kernel_size - 1) // 2, 0),
                bias=False,
            )
            for d in self.dilations
        )
        self.bn = nn.BatchNorm2d(channels) if init != "zero" else None
        # each branch's taps in the one-convolution kernel: (tap - (k-1)/2) * d from the centre
        # (not saved: a function of kernel_size and dilations; moves with the module)
        r, half = self.radius, (kernel_size - 1) // 2
        self.register_buffer("taps", torch.tensor([[r + (tap - half) * d for tap in range(kernel_size)]
                                                   for d in self.dilations]), persistent=False)
        self.fused: nn.Conv2d | None = None
        self._kernel_cache: tuple[tuple, torch.Tensor] | None = None
        self.init = init
        self.reset_parameters()

    def reset_parameters(self, init: str | None = None) -> None:
        """Start as ``init`` (default: the module's own; see the class doc). ``"zero"`` needs a module
        built without BatchNorm, the other two one built with it."""
        init = init or self.init
        if (init == "zero") != (self.bn is None):
            raise ValueError(f"a module built with init={self.init!r} cannot restart as {init!r}")
        self.init = init
        for conv in self.convs:
            if init == "zero":
                nn.init.zeros_(conv.weight)
            else:
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if self.bn is not None:
            self.bn.reset_parameters()
            if init == "identity":
                nn.init.zeros_(self.bn.weight)

    @property
    def radius(self) -> int:
        """Frames seen on each side: ``max(d) * (k-1)/2`` (3 for the paper's module)."""
        return max(self.dilations) * (self.kernel_size - 1) // 2

    def branch_kernel(self) -> torch.Tensor:
        """The three branches as one kernel ``(C, C, 2r+1, 1)``: each branch's taps at their offsets
        ``(tap - (k-1)/2) * d`` from the centre, summed. A differentiable function of the branches'
        weights, in their memory layout.

        Without autograd (validation, evaluation, unfused prediction) the kernel is built once and
        kept until a branch weight changes (an optimiser step, ``load_state_dict``, ``.to()``):
        building it is a copy of the whole weight, which cost more than the convolution itself on
        short inputs (measured: 42 of 74 s of a ``ta_head`` validation over 400 videos, where
        the videos are cut into chunks; docs/features.md). With autograd it is rebuilt every call
        (the graph must reach the weights) and the kept copy is dropped.
        """
        if torch.is_grad_enabled():
            self._kernel_cache = None
            return self._build_branch_kernel()
        key = self._weights_key()
        if key is None:
            return self._build_branch_kernel()
        if self._kernel_cache is None or self._kernel_cache[0] != key:
            self._kernel_cache = (key, self._build_branch_kernel())
        return self._kernel_cache[1]

    def _weights_key(self) -> tuple | None:
        """What identifies the branch weights' current values: each tensor's identity, storage,
        version counter (bumped by every in-place change), dtype and device. None for inference
        tensors, which have no version counter."""
        try:
            return tuple((id(c.weight), c.weight.data_ptr(), c.weight._version, c.weight.dtype, c.weight.device)
                         for c in self.convs)
        except RuntimeError:
            return None

    def _build_branch_kernel(self) -> torch.Tensor:
        ref = self.convs[0].weight
        weight = ref.new_zeros(self.channels, self.channels, 2 * self.radius + 1, 1)
        for taps, conv in zip(self.taps, self.convs):
            weight = weight.index_add(2, taps, conv.weight)
        if ref.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, H, W) -> (B, C, T, H, W)``."""
        b, c, t, h, w = x.shape
        x4 = x.flatten(3)  # (B, C, T, H*W): a view when the frames are channels_last
        if self.fused is not None:
            out = self.fused(x4)
        else:
            kernel = self.branch_kernel()
            if h * w == 1:  # one position per frame (features, ta_head): the 1D kernels are faster,
                # forward + backward (docs/features.md). The kernel is made contiguous: its
                # channels_last slice gave conv1d wrong input gradients for dilations (2, 4) with the
                # BatchNorm after it, in fp32 and fp64 (caught by test_models' one-convolution test;
                # not reduced to a minimal case)
                branches = bf16_safe_conv1d(x4[..., 0].contiguous(), kernel[..., 0].contiguous(), padding=self.radius)[..., None]
            else:
                branches = bf16_safe_conv2d(x4, kernel, padding=(self.radius, 0))
            out = x4 + (branches if self.bn is None else self.bn(branches))
        return F.relu(out).unflatten(3, (h, w))

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        """The same function computed literally as three dilated convolutions (the reference the
        one-convolution form is tested against)."""
        b, c, t, h, w = x.shape
        x4 = x.flatten(3)
        branches = sum(conv(x4) for conv in self.convs)
        out = x4 + (branches if self.bn is None else self.bn(branches))
        return F.relu(out).unflatten(3, (h, w))

    @torch.no_grad()
    def fused_weight(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The single equivalent kernel ``(C, C, 2r+1, 1)`` (:meth:`branch_kernel` times BN's
        eval-mode scale, + identity at the centre tap) and its bias (BN's shift; ``None`` without BN)."""
        r = self.radius
        weight = self._build_branch_kernel().contiguous()  # a new tensor: scaled in place below
        bias = None
        if self.bn is not None:
            scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
            weight *= scale.to(weight.dtype)[:, None, None, None]
            bias = (self.bn.bias - self.bn.running_mean * scale).to(weight.dtype)
        weight[:, :, r, 0] += torch.eye(self.channels, dtype=weight.dtype, device=weight.device)
        return weight, bias

    @torch.no_grad()
    def fuse(self) -> "TemporalAggregation":
        """Replace the branches + identity by one conv (inference form). Idempotent."""
        if self.fused is None:
            weight, bias = self.fused_weight()
            r = self.radius
            conv = nn.Conv2d(self.channels, self.channels, kernel_size=(2 * r + 1, 1), padding=(r, 0),
                             bias=bias is not None)
            conv = conv.to(device=weight.device, dtype=weight.dtype)
            conv.weight.copy_(weight)
            if bias is not None:
                conv.bias.copy_(bias)
            if self.convs[0].weight.is_contiguous(memory_format=torch.channels_last):
                conv = conv.to(memory_format=torch.channels_last)
            self.fused = conv
            self._kernel_cache = None
            del self.convs
            self.convs = nn.ModuleList()
            self.bn = None
        return self

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, kernel_size={self.kernel_size}, dilations={self.dilations}, "
                f"init={self.init!r}, fused={self.fused is not None}")


# -- the network (paper section 3.4, Fig. 3) --------------------------------------------------------


def video_scores(frame_logits: torch.Tensor) -> torch.Tensor:
    """Video-level scores ``(B, K)``: the mean over time of per-frame probabilities ``(B, T, K)``.

    Paper section 4.3: "average pooling is used to map dense frame level labels to video level".
    """
    return torch.sigmoid(frame_logits.float()).mean(dim=1)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert a model (and, through its forward, its inputs) to its fast memory layout."""
    return model.to(memory_format=model.memory_format)


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> int:
    """Fold every BatchNorm that directly follows a convolution into that convolution (inference
    form, exact in eval mode: PyTorch's ``fuse_conv_bn_eval``); the BatchNorm becomes
    ``nn.Identity``. Returns how many were folded.

    The pairs are found by the blocks' torchvision names (``convN`` then ``bnN`` in the same
    module: the stem and every block) and as consecutive (conv, BatchNorm) children of a
    ``Sequential`` (the downsampling shortcuts). The folded weights keep the conv's memory layout.
    """
    if model.training:
        raise RuntimeError("folding BatchNorm is the inference form: call model.eval() first")
    pairs = []
    for parent in model.modules():
        children = dict(parent.named_children())
        if isinstance(parent, nn.Sequential):
            names = list(children)
            pairs += [(parent, a, b) for a, b in zip(names, names[1:])
                      if isinstance(children[a], _CONVS) and isinstance(children[b], _NORMS)]
        else:
            pairs += [(parent, "conv" + name[2:], name) for name, child in children.items()
                      if isinstance(child, _NORMS) and name.startswith("bn")
                      and isinstance(children.get("conv" + name[2:]), _CONVS)]
    for parent, conv_name, bn_name in pairs:
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        layout = next((f for f in (torch.channels_last, torch.channels_last_3d)
                       if conv.weight.dim() == (4 if f is torch.channels_last else 5)
                       and conv.weight.is_contiguous(memory_format=f) and not conv.weight.is_contiguous()), None)
        fused = fuse_conv_bn_eval(conv, bn)
        if layout is not None:
            fused = fused.to(memory_format=layout)
        setattr(parent, conv_name, fused)
        setattr(parent, bn_name, nn.Identity())
    return len(pairs)


def init_2d(module: nn.Module) -> None:
    """torchvision's ResNet initialisation for the spatial path."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class TAN(nn.Module):
    """ResNet bottlenecks per frame with a Temporal Aggregation module after chosen levels.

    Args:
        layers: bottleneck blocks per level, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: K, the number of (multi-label) classes.
        planes: bottleneck widths per level; output channels are ``4 * planes``.
        stem_width: output channels of ``conv1``.
        levels: the levels (1-4) followed by a TA module (paper Table 2); ``()`` gives the plain
            per-frame 2D network.
        dilations: temporal dilations of the TA branches; ``(1,)`` is the "plain 3x1x1 temporal
            conv" ablation of Table 2.
        kernel_size: temporal kernel of each branch (paper: 3).
        ta_init: how the TA modules start (:class:`TemporalAggregation`): ``"open"``, ``"identity"``,
            ``"zero"``, or ``"auto"`` (default): open for a network trained from scratch, switched
            to the identity when 2D weights are loaded (:func:`~tan_video.models.load_pretrained`
            calls :meth:`start_from_pretrained`).
        ta_norm: the older spelling, kept for checkpoints that carry it: ``True`` = ``"identity"``,
            ``False`` = ``"zero"`` (used only when ``ta_init`` is ``"auto"``).
        drop_rate: dropout before the classifier.
        block: :class:`Bottleneck` (ResNet-50/101/152) or
            :class:`BasicBlock` (the tiny models).
        stem_kernel: the stem convolution's kernel (ResNet's 7, stride 2; 3 for small frames).
        stem_pool: the stem's 3x3/2 max-pool (ResNet's). ``False`` keeps level 1 at half the
            input resolution (the tiny models: 32x32 for 64 px frames).
    """

    def __init__(
        self,
        layers: Sequence[int],
        num_classes: int,
        planes: Sequence[int] = (64, 128, 256, 512),
        stem_width: int = 64,
        levels: Sequence[int] = LEVELS,
        dilations: Sequence[int] = (1, 2, 3),
        kernel_size: int = 3,
        ta_init: str = "auto",
        drop_rate: float = 0.5,
        in_chans: int = 3,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        block: type[nn.Module] = Bottleneck,
        stem_pool: bool = True,
        stem_kernel: int = 7,
        ta_norm: bool | None = None,
    ):
        super().__init__()
        if len(layers) != 4 or len(planes) != 4:
            raise ValueError("layers and planes need one entry per level (4)")
        bad = [lv for lv in levels if lv not in LEVELS]
        if bad:
            raise ValueError(f"levels must be a subset of {LEVELS}, got {tuple(levels)}")
        self.levels = tuple(sorted(set(int(lv) for lv in levels)))
        self.dilations = tuple(dilations)
        self.kernel_size = kernel_size
        if ta_init == "auto" and ta_norm is not None:
            ta_init = "identity" if ta_norm else "zero"
        if ta_init not in ("auto",) + TA_INITS:
            raise ValueError(f"ta_init must be one of auto, {', '.join(TA_INITS)}, got {ta_init!r}")
        self.ta_init = ta_init
        start = "open" if ta_init == "auto" else ta_init

        self.conv1 = nn.Conv2d(in_chans, stem_width, kernel_size=stem_kernel, stride=2, padding=stem_kernel // 2,
                               bias=False)
        self.bn1 = norm_layer(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem_pool else nn.Identity()

        in_ch = stem_width
        self.level_channels: list[int] = []
        for i, (width, blocks) in enumerate(zip(planes, layers), start=1):
            setattr(self, f"layer{i}", self._make_layer(block, in_ch, width, blocks, 1 if i == 1 else 2, norm_layer))
            in_ch = width * block.expansion
            self.level_channels.append(in_ch)
            ta = TemporalAggregation(in_ch, kernel_size, dilations, start) if i in self.levels else nn.Identity()
            setattr(self, f"ta{i}", ta)

        self.num_features = in_ch
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_ch, num_classes)
        init_2d(self)
        for ta in self.temporal_modules():
            ta.reset_parameters()  # as ta_init says, whatever init_2d did

    def start_from_pretrained(self) -> None:
        """Called once 2D weights are loaded: with ``ta_init="auto"`` the TA modules restart as the
        identity, so the network computes the pretrained per-frame features exactly."""
        if self.ta_init == "auto":
            for ta in self.temporal_modules():
                ta.reset_parameters("identity")

    @staticmethod
    def _make_layer(block, in_ch: int, planes: int, blocks: int, stride: int, norm_layer) -> nn.Sequential:
        out_ch = planes * block.expansion
        downsample = None
        if stride != 1 or in_ch != out_ch:
            downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False), norm_layer(out_ch)
            )
        mods = [block(in_ch, planes, stride, downsample, norm_layer)]
        mods += [block(out_ch, planes, 1, None, norm_layer) for _ in range(blocks - 1)]
        return nn.Sequential(*mods)

    # The fast layout on CPU (about 1.5x) and on GPU: frames are 2D images.
    memory_format = torch.channels_last

    # -- metadata ---------------------------------------------------------------------------
    def temporal_modules(self) -> list[TemporalAggregation]:
        return [m for m in self.modules() if isinstance(m, TemporalAggregation)]

    @property
    def temporal_radius(self) -> int | None:
        """Output frame t depends only on input frames within +-radius (12 for the full TAN).

        This bounds the context that exact chunked inference needs on each side.
        """
        return sum(m.radius for m in self.temporal_modules())

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    # -- forward ----------------------------------------------------------------------------
    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W) -> (B*T, 3, H, W)`` in the memory format the weights use."""
        check_clip(x)
        frames = x.transpose(1, 2).flatten(0, 1)
        if isinstance(self.conv1, PackedConv2d) or self.conv1.weight.is_contiguous(memory_format=torch.channels_last):
            frames = frames.contiguous(memory_format=torch.channels_last)
        return frames

    def forward_features(self, x: torch.Tensor, return_levels: bool = False):
        """Clip ``(B, 3, T, H, W)`` -> pooled per-frame features ``(B, T, C)``.

        With ``return_levels=True`` also returns the feature maps after each level's TA module,
        each ``(B, C_i, T, H_i, W_i)`` (used for the filter-response figures, paper Figs. 4-5).
        """
        b, t = x.shape[0], x.shape[2]
        y = self.maxpool(self.relu(self.bn1(self.conv1(self._frames(x)))))
        maps = []
        for i in LEVELS:
            y = getattr(self, f"layer{i}")(y)
            ta = getattr(self, f"ta{i}")
            if isinstance(ta, TemporalAggregation) or return_levels:
                y5 = ta(y.unflatten(0, (b, t)).transpose(1, 2))  # (B, C, T, H, W)
                if return_levels:
                    maps.append(y5)
                y = y5.transpose(1, 2).flatten(0, 1)
        feats = y.mean(dim=(2, 3)).unflatten(0, (b, t))
        return (feats, maps) if return_levels else feats

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, T, C)`` -> frame logits ``(B, T, K)``."""
        return self.fc(self.drop(feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Clip ``(B, 3, T, H, W)`` (ImageNet-normalised) -> frame logits ``(B, T, K)``."""
        return self.forward_head(self.forward_features(x))

    # -- transforms of a built model ----------------------------------------------------------
    def fuse(self) -> "TAN":
        """The inference form, outputs unchanged (eval mode): every TA module folded into one
        temporal conv, every BatchNorm into its convolution (:func:`fold_batchnorm`). Idempotent."""
        for ta in self.temporal_modules():
            ta.fuse()
        fold_batchnorm(self)
        return self

    def reset_classifier(self, num_classes: int) -> None:
        """A new head for K classes (fine-tuning after single-label pretraining, Table 5)."""
        self.fc = nn.Linear(self.fc.in_features, num_classes).to(self.fc.weight.device)


# -- registered builders -----------------------------------------------------------------------
# Table 4 varies depth through levels 3-4 only; ImageNet weights exist for the three depths.
DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def _tan_resnet(depth: int, num_classes: int, levels, dilations, kernel_size: int, ta_init: str,
                drop_rate: float, ta_norm: bool | None) -> TAN:
    model = TAN(DEPTHS[depth], num_classes, levels=levels, dilations=dilations,
                kernel_size=kernel_size, ta_init=ta_init, drop_rate=drop_rate, ta_norm=ta_norm)
    model.imagenet_weights = IMAGENET_RESNET[depth]
    return model


@register_model
def tan_r50(num_classes: int = 157, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
            kernel_size: int = 3, ta_init: str = "auto", drop_rate: float = 0.5,
            ta_norm: bool | None = None) -> TAN:
    """TAN on ResNet-50 bottlenecks (paper Tables 1-3; "50s + 12t" in Table 4)."""
    return _tan_resnet(50, num_classes, levels, dilations, kernel_size, ta_init, drop_rate, ta_norm)


@register_model
def tan_r101(num_classes: int = 157, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
             kernel_size: int = 3, ta_init: str = "auto", drop_rate: float = 0.5,
             ta_norm: bool | None = None) -> TAN:
    """TAN on ResNet-101 bottlenecks (paper Table 4)."""
    return _tan_resnet(101, num_classes, levels, dilations, kernel_size, ta_init, drop_rate, ta_norm)


@register_model
def tan_r152(num_classes: int = 157, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
             kernel_size: int = 3, ta_init: str = "auto", drop_rate: float = 0.5,
             ta_norm: bool | None = None) -> TAN:
    """TAN on ResNet-152 bottlenecks (paper Tables 4-8, the paper's best model)."""
    return _tan_resnet(152, num_classes, levels, dilations, kernel_size, ta_init, drop_rate, ta_norm)


# The tiny models (tests, the CPU demo), shared by all three architectures: one basic block per
# level, widths 16-128, a 7x7/2 stem conv without ResNet's max-pool, so that level 1 keeps half the
# input resolution (docs/models.md: with the pool, 64-px frames left level 1 at 16x16 and no tiny
# TAN learnt a temporal pattern in the demo's budget; without it, 2x the time per step).
TINY_LAYERS = (1, 1, 1, 1)
TINY_PLANES = (16, 32, 64, 128)
TINY_STEM = 16
TINY_SHAPE = dict(planes=TINY_PLANES, stem_width=TINY_STEM)
TINY_STEM_KERNEL, TINY_STEM_POOL = 7, False  # the builders' defaults: level 1 at half the input (32x32 for 64 px)


@register_model
def tan_tiny(num_classes: int = 16, levels: Sequence[int] = LEVELS, dilations: Sequence[int] = (1, 2, 3),
             kernel_size: int = 3, ta_init: str = "auto", drop_rate: float = 0.2,
             stem_kernel: int = TINY_STEM_KERNEL, stem_pool: bool = TINY_STEM_POOL,
             ta_norm: bool | None = None) -> TAN:
    """Narrow, shallow TAN (one basic block per level) for tests and the CPU demo; same code path."""
    model = TAN(TINY_LAYERS, num_classes, levels=levels, dilations=dilations, kernel_size=kernel_size,
                ta_init=ta_init, drop_rate=drop_rate, block=BasicBlock, ta_norm=ta_norm, stem_kernel=stem_kernel,
                stem_pool=stem_pool, **TINY_SHAPE)
    model.imagenet_weights = None
    return model
