"""Tokenizing a Ray Data set: ``Dataset.map_batches(dvae.ray.Tokenize, ...)``.

::

    import ray, dvae.ray

    ds = ray.data.read_images("s3://bucket/photos/", include_paths=True, mode="RGB")
    tokens = ds.map_batches(dvae.ray.Tokenize, fn_constructor_args=("runs/default",),
                            concurrency=4, batch_size=64)
    tokens.write_parquet("s3://bucket/tokens/")

Each actor loads the run once. An image whose size is not the model's is resized and
centre-cropped as ``dvae encode`` does it (``dvae.resize_crop``), so the tokens are those
the CLI writes for the same files. Ray is an optional dependency: ``pip install "dvae[ray]"``.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from ._dvae import Tokenizer, resize_crop

__all__ = ["Tokenize"]


class Tokenize:
    """A callable class for ``ray.data.Dataset.map_batches`` (numpy batch format).

    run_dir: the run directory, loaded once per actor.
    column: the column holding the images (``read_images`` names it "image"): uint8
        arrays [H, W, 3] (or grey [H, W], RGBA [H, W, 4]), all in one [N, H, W, C] array
        or, where sizes differ, an object array of them.
    out_column: the column to write the token grids to: int64 [N, grid, grid]
        (``dtype`` changes it).
    keep_images: keep the image column in the output (dropped by default: it is the
        bulk of the batch).
    batch: images per model call inside the actor.
    """

    def __init__(
        self,
        run_dir: str,
        *,
        column: str = "image",
        out_column: str = "tokens",
        keep_images: bool = False,
        dtype: Any = "int64",
        batch: int = 64,
    ) -> None:
        self.tokenizer = Tokenizer.load(run_dir)
        self.column = column
        self.out_column = out_column
        self.keep_images = keep_images
        self.dtype = dtype
        self.batch = batch

    def images(self, column: Any) -> np.ndarray:
        """The batch's images as uint8 [N, S, S, 3] at the model's size."""
        size = self.tokenizer.image_size
        if (
            isinstance(column, np.ndarray)
            and column.dtype == np.uint8
            and column.ndim == 4
            and column.shape[1:] == (size, size, 3)
        ):
            return column
        frames = [resize_crop(np.asarray(img), size) for img in column]
        if not frames:
            return np.zeros((0, size, size, 3), np.uint8)
        return np.stack(frames)

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        """Adds ``out_column``, the token grids of ``batch[column]``."""
        if self.column not in batch:
            raise KeyError(
                f"the batch has no column {self.column!r} (it has {sorted(batch)}); "
                "pass column= the images' column"
            )
        images = self.images(batch[self.column])
        out = {k: v for k, v in batch.items() if self.keep_images or k != self.column}
        out[self.out_column] = self.tokenizer.encode(images, batch=self.batch, dtype=self.dtype)
        return out
