"""Type stubs of dvae's native module (dvae._dvae); every name is re-exported by dvae."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str

StrPath = Union[str, "os.PathLike[str]"]
Paths = Union[StrPath, Sequence[StrPath]]
IdDtype = Union[
    Literal["int64", "int32", "uint32", "uint16"], type, np.dtype[Any]
]

class DvaeError(Exception):
    """An error that is not a bad argument or a missing file (a corrupt run directory or
    image, a run holding one half of the network, a failed write)."""

class Tokenizer:
    """A trained tokenizer loaded from a run directory; safe to share between threads."""

    @staticmethod
    def load(run_dir: StrPath) -> Tokenizer:
        """Loads a run directory (config.json and model.safetensors)."""
    def encode(
        self,
        images: npt.ArrayLike,
        *,
        batch: int = 64,
        dtype: Optional[IdDtype] = None,
    ) -> npt.NDArray[np.integer[Any]]:
        """uint8 [N, H, W, 3] or float32 [N, 3, H, W] in [0, 1] -> int64 [N, grid, grid]
        (``dtype``: int64, int32, uint32 or uint16)."""
    def decode(
        self, ids: npt.ArrayLike, *, batch: int = 64
    ) -> npt.NDArray[np.uint8]:
        """integer [N, grid, grid] ids in 0..vocab_size -> uint8 [N, S, S, 3]."""
    def logits(
        self, images: npt.ArrayLike, *, batch: int = 64
    ) -> npt.NDArray[np.float32]:
        """images as for encode -> float32 [N, vocab_size, grid, grid] (dvae family only)."""
    @property
    def vocab_size(self) -> int:
        """Number of codes K."""
    @property
    def grid(self) -> int:
        """Side of the token grid."""
    @property
    def image_size(self) -> int:
        """Side of the square images, in pixels."""
    @property
    def family(self) -> str:
        """dvae, vqvae, vae, ae, fsq or lfq."""
    @property
    def config(self) -> Dict[str, Any]:
        """The run's configuration, as config.json holds it."""
    @property
    def run_dir(self) -> str:
        """The run directory this tokenizer was loaded from."""

def load_images(paths: Paths, size: int) -> npt.NDArray[np.uint8]:
    """Image files and folders -> uint8 [N, size, size, 3], as ``dvae encode`` reads them."""

def list_images(paths: Paths) -> List[str]:
    """The image files ``load_images(paths, ...)`` reads, in its order."""

def resize_crop(image: npt.ArrayLike, size: int) -> npt.NDArray[np.uint8]:
    """uint8 [H, W, 3] (or grey, grey+alpha, RGBA) -> [size, size, 3], the CLI's resize and crop."""

def metrics(a: npt.ArrayLike, b: npt.ArrayLike) -> Dict[str, npt.NDArray[np.float64]]:
    """Per-image mse, psnr, ssim, ssim_uniform (float64 [N] each) of b against a."""

def import_openai(
    *,
    encoder: Optional[StrPath] = None,
    decoder: Optional[StrPath] = None,
    out: StrPath,
    image_size: int = 256,
) -> str:
    """OpenAI's encoder.pkl / decoder.pkl -> a run directory ``out``; returns ``out``."""

def train(
    out: StrPath,
    *,
    resume: bool = False,
    strict: bool = False,
    on_step: Optional[Callable[[Dict[str, float]], Any]] = None,
    preset: Optional[Literal["tiny", "small", "dalle"]] = None,
    recipe: Optional[Literal["default", "dalle"]] = None,
    data: Optional[StrPath] = None,
    steps: Optional[int] = None,
    batch: Optional[int] = None,
    seed: Optional[int] = None,
    checkpoint_every: Optional[int] = None,
    loss: Optional[Literal["logit-laplace", "mse"]] = None,
    image_size: Optional[int] = None,
    group_count: Optional[int] = None,
    n_hid: Optional[int] = None,
    n_blk_per_group: Optional[int] = None,
    vocab_size: Optional[int] = None,
    n_init: Optional[int] = None,
    code_dim: Optional[int] = None,
    lr: Optional[float] = None,
    lr_end: Optional[float] = None,
    warmup_steps: Optional[int] = None,
    weight_decay: Optional[float] = None,
    ema_decay: Optional[float] = None,
    grad_clip: Optional[float] = None,
    log_every: Optional[int] = None,
    holdout: Optional[float] = None,
    stream: Optional[bool] = None,
    eval_data: Optional[Union[str, "os.PathLike[str]"]] = None,
    shuffle_buffer: Optional[int] = None,
    crop_scale: Optional[Sequence[float]] = None,
    hflip: Optional[bool] = None,
    family: Optional[Literal["dvae", "vqvae", "vae", "ae", "fsq", "lfq"]] = None,
    checkpoint_every_minutes: Optional[float] = None,
    tau_start: Optional[float] = None,
    tau_end: Optional[float] = None,
    tau_schedule: Optional[Literal["cosine", "exponential"]] = None,
    tau_steps: Optional[int] = None,
    kl_weight: Optional[float] = None,
    beta_schedule: Optional[Literal["cosine", "fixed"]] = None,
    beta_steps: Optional[int] = None,
    diversity_weight: Optional[float] = None,
    cell_entropy_weight: Optional[float] = None,
    hard: Optional[bool] = None,
    gumbel_scale: Optional[float] = None,
    codebook_std: Optional[float] = None,
    logit_scale_end: Optional[float] = None,
    soft_codebook_grad: Optional[bool] = None,
    logits: Optional[Literal["head", "dot", "distance"]] = None,
    vq_cosine: Optional[bool] = None,
    commitment: Optional[float] = None,
    vq_ema: Optional[bool] = None,
    vq_decay: Optional[float] = None,
    kmeans_init: Optional[bool] = None,
    restart_after: Optional[int] = None,
    lookup_dim: Optional[int] = None,
    rotation_trick: Optional[bool] = None,
    simvq: Optional[bool] = None,
    levels: Optional[Sequence[int]] = None,
    entropy_weight: Optional[float] = None,
    diversity_gamma: Optional[float] = None,
    lfq_commitment: Optional[float] = None,
    inv_temperature: Optional[float] = None,
    spherical: Optional[bool] = None,
    vae_kl_weight: Optional[float] = None,
    vae_warmup_steps: Optional[int] = None,
) -> Dict[str, Any]:
    """Trains into ``out`` as ``dvae train`` does; the keywords are its flags."""

def retain_freed_memory() -> bool:
    """glibc's allocator set as the dvae binary sets it (freed blocks kept for reuse)."""

def train_keys() -> List[str]:
    """The configuration keywords train takes."""
