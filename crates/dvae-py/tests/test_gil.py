"""Long calls release the GIL (another Python thread runs meanwhile) and stop on Ctrl-C."""

import os
import signal
import threading
import time

import numpy as np
import pytest


def big_batch(images: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([images] * (n // len(images) + 1))[:n]


def test_another_thread_runs_while_encode_works(tok, images):
    x = big_batch(images, 256)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())

    t = threading.Thread(target=count)
    t.start()
    try:
        time.sleep(0.05)
        start = time.perf_counter()
        tok.encode(x, batch=256)  # one model call: the GIL is released once, for all of it
        end = time.perf_counter()
    finally:
        done.set()
        t.join()
    during = [s for s in ticks if start <= s <= end]
    assert end - start > 0.05, "encode too quick to tell"
    # With the GIL held the counter could not tick at all during the call (one batch, no
    # switch points); released, it ticks throughout.
    assert len(during) > 1000, (len(during), end - start)
    assert during[-1] - during[0] > 0.5 * (end - start)


def test_ctrl_c_stops_encode_between_batches(tok, images):
    x = big_batch(images, 4096)
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        tok.encode(x, batch=16)
    took = time.perf_counter() - start
    timer.join()
    # 4096 images take many seconds; the call ended within a batch or two of the signal.
    assert took < 3.0, took
