"""dvae.ray.Tokenize on a local Ray cluster: two actors tokenize a folder of PNGs (mixed
sizes) and get exactly the CLI's tokens."""

import json
import os
import signal

import numpy as np
import pytest

from conftest import run_cli, skipped


@pytest.fixture(scope="module")
def ray():
    try:
        import ray
        import ray.data  # noqa: F401  (needs pyarrow: the dvae[ray] extra)
    except ImportError as e:
        if os.environ.get("DVAE_REQUIRE_RAY") == "1":
            raise
        skipped("the Ray Data test", f"ray is not installed ({e}); pip install 'dvae[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             log_to_driver=False)
    yield ray
    ray.shutdown()


def test_two_actors_tokenize_a_folder_as_the_cli_does(ray, cli, run_tiny, photos, tmp_path):
    import dvae.ray

    out = tmp_path / "t.npy"
    run_cli(cli, "encode", "--run", run_tiny, photos, "--out", out)
    want = dict(zip(json.loads(out.with_suffix(".json").read_text()), np.load(out)))

    ds = ray.data.read_images(str(photos), include_paths=True, mode="RGB")
    tokens = ds.map_batches(
        dvae.ray.Tokenize,
        fn_constructor_args=(str(run_tiny),),
        concurrency=2,
        batch_size=8,
        batch_format="numpy",
        # Half a CPU each, so that the two actors leave the 2-CPU cluster room to read.
        num_cpus=0.5,
    )
    # A hang (a cluster without room to schedule) fails the test instead of the run.
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("Ray Data did not finish in 300 s"))
    signal.alarm(300)
    try:
        rows = tokens.take_all()
    finally:
        signal.alarm(0)
    assert len(rows) == len(want) == 28
    for row in rows:
        assert "image" not in row
        path = row["path"] if row["path"] in want else "/" + row["path"].lstrip("/")
        assert np.array_equal(row["tokens"], want[path]), path
        assert row["tokens"].dtype == np.int64


def test_tokenize_takes_both_batch_forms(run_tiny, images):
    import dvae
    import dvae.ray

    t = dvae.ray.Tokenize(str(run_tiny), keep_images=True)
    ids = dvae.Tokenizer.load(run_tiny).encode(images[:3])
    regular = t({"image": images[:3], "path": np.array(["a", "b", "c"])})
    assert np.array_equal(regular["tokens"], ids) and "image" in regular
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = images[0], np.pad(images[1], ((8, 8), (0, 0), (0, 0)), mode="edge")
    out = t({"image": ragged})
    assert out["tokens"].shape == (2, 8, 8) and np.array_equal(out["tokens"][0], ids[0])
    with pytest.raises(KeyError, match="no column 'pixels'"):
        dvae.ray.Tokenize(str(run_tiny), column="pixels")({"image": images[:1]})
