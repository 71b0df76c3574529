"""Every dtype and memory layout numpy can hand over gives the same tokens; wrong dtypes
are refused with a message naming the expected ones."""

import numpy as np
import pytest

import dvae


def floats(images: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW in [0, 1], as a PyTorch batch holds them."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32) / 255


def test_float32_nchw_gives_the_uint8_tokens(tok, images, cli_tokens):
    x = floats(images)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert np.array_equal(tok.encode(x), cli_tokens)
    assert np.array_equal(tok.logits(x[:3]), tok.logits(images[:3]))


ALL = slice(None)


@pytest.mark.parametrize(
    "name, make, which",
    [
        ("every other image", lambda a: a[::2], slice(None, None, 2)),
        ("reversed", lambda a: a[::-1], slice(None, None, -1)),
        ("fortran order", np.asfortranarray, ALL),
        ("a crop of a larger array", lambda a: np.pad(a, ((0, 0), (2, 3), (1, 1), (0, 0)))[:, 2:-3, 1:-1], ALL),
        ("channels-first memory seen channels last", lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1), ALL),
    ],
)
def test_uint8_layouts(tok, images, cli_tokens, name, make, which):
    view = make(images)
    assert not view.flags.c_contiguous, name
    assert np.array_equal(tok.encode(view), cli_tokens[which]), name


def test_float32_layouts(tok, images, cli_tokens):
    x = floats(images)
    # A transposed view of channels-last floats: float32 NCHW that is not contiguous.
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    view = nhwc.transpose(0, 3, 1, 2)
    assert not view.flags.c_contiguous
    assert np.array_equal(tok.encode(view), cli_tokens)
    assert np.array_equal(tok.encode(np.asfortranarray(x)), cli_tokens)
    assert np.array_equal(tok.encode(x[1::3]), cli_tokens[1::3])


def test_lists_are_taken_as_arrays(tok, images, cli_tokens):
    assert np.array_equal(tok.encode(list(images[:2])), cli_tokens[:2])


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.uint16, np.bool_])
def test_wrong_image_dtype_names_the_expected_ones(tok, images, dtype):
    with pytest.raises(ValueError) as e:
        tok.encode(images.astype(dtype))
    msg = str(e.value)
    assert "uint8 [N, H, W, 3]" in msg and "float32 [N, 3, H, W]" in msg, msg
    assert np.dtype(dtype).name in msg, msg
    if dtype in (np.float64, np.float16):
        assert "astype(numpy.float32)" in msg


def test_wrong_layouts_say_which(tok, images):
    with pytest.raises(ValueError, match=r"for one image pass images\[None\]"):
        tok.encode(images[0])
    with pytest.raises(ValueError, match=r"transpose\(0, 2, 3, 1\)"):
        tok.encode(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    with pytest.raises(ValueError, match=r"transpose\(0, 3, 1, 2\)"):
        tok.encode(images.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="input is 32x32 but model built for 64x64"):
        tok.encode(images[:, :32, :32])
    with pytest.raises(ValueError, match="input has 4 channels but model built for 3"):
        tok.encode(np.zeros((1, 64, 64, 4), np.uint8))


def test_floats_outside_0_1_are_refused(tok, images):
    x = floats(images[:2]) * 255
    with pytest.raises(ValueError, match=r"\[0, 1\]: image 0 has"):
        tok.encode(x)
    y = floats(images[:2])
    y[1, 0, 5, 5] = np.nan
    with pytest.raises(ValueError, match="image 1 has NaN"):
        tok.encode(y)


def test_id_dtypes_and_layouts(tok, cli_tokens):
    ids = cli_tokens[:4]
    want = tok.decode(ids)
    for dtype in [np.int64, np.int32, np.uint32, np.int16]:
        assert np.array_equal(tok.decode(ids.astype(dtype)), want), dtype
    assert np.array_equal(tok.decode(cli_tokens[:8:2]), tok.decode(cli_tokens)[:8:2])
    assert np.array_equal(tok.decode(ids[::-1]), want[::-1])
    assert np.array_equal(tok.decode(np.asfortranarray(ids)), want)


def test_wrong_id_dtypes_and_dtype_option(tok, cli_tokens, images):
    with pytest.raises(ValueError, match="integer array .* got dtype float32"):
        tok.decode(cli_tokens.astype(np.float32))
    with pytest.raises(ValueError, match=r"for one grid pass ids\[None\]"):
        tok.decode(cli_tokens[0])
    with pytest.raises(ValueError, match="dtype must be int64, int32, uint32 or uint16"):
        tok.encode(images[:1], dtype="float32")
    with pytest.raises(ValueError, match="batch must be at least 1"):
        tok.encode(images[:1], batch=0)
