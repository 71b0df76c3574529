"""dvae: discrete image tokenizers (DALL·E's dVAE, VQ-VAE, VAE, AE) on numpy arrays.

The Rust toolkit of the same name, from Python::

    import dvae

    tok = dvae.Tokenizer.load("runs/default")   # a run of `dvae train`, or dvae.import_openai's
    images = dvae.load_images("photos/", tok.image_size)   # uint8 [N, S, S, 3]
    ids = tok.encode(images)                    # int64 [N, grid, grid]
    out = tok.decode(ids)                       # uint8 [N, S, S, 3]

Errors: ValueError for a bad shape, dtype, id or option; FileNotFoundError for a missing
file, folder or run directory; dvae.DvaeError otherwise — each with the message the CLI
prints. Long calls release the GIL and stop on Ctrl-C. ``dvae.ray.Tokenize`` tokenizes a
Ray Data set (``pip install "dvae[ray]"``).
"""

from ._dvae import (
    DvaeError,
    Tokenizer,
    __version__,
    import_openai,
    list_images,
    load_images,
    metrics,
    resize_crop,
    retain_freed_memory,
    train,
)

__all__ = [
    "DvaeError",
    "Tokenizer",
    "__version__",
    "import_openai",
    "list_images",
    "load_images",
    "metrics",
    "resize_crop",
    "retain_freed_memory",
    "train",
]
