#!/usr/bin/python3
"""Seed corpus of the data-reader fuzzer (fuzz_data.c): corpus_data/.

    /usr/bin/python3 tests/fuzz/make_data_corpus.py      # rewrites tests/fuzz/corpus_data/

Good files (.npy of every dtype kind, Fortran order, big-endian, format 2.0, .npz stored and
deflated) and broken ones (cut, a flipped byte, a header that lies)."""
import io
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_data")


def npy(a, version=None):
    b = io.BytesIO()
    if version:
        np.lib.format.write_array(b, a, version=version)
    else:
        np.save(b, a)
    return b.getvalue()


def npz(arrays, deflate):
    b = io.BytesIO()
    (np.savez_compressed if deflate else np.savez)(b, **arrays)
    return b.getvalue()


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(3)
    good = {
        "f4.npy": npy(rng.normal(size=(3, 4)).astype(np.float32)),
        "f8_fortran.npy": npy(np.asfortranarray(rng.normal(size=(2, 3, 2)))),
        "f2.npy": npy(rng.normal(size=(4, 2)).astype(np.float16)),
        "u1.npy": npy(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)),
        "i8_be.npy": npy(np.arange(6, dtype=">i8").reshape(3, 2)),
        "b1.npy": npy(np.array([[True, False], [False, True]])),
        "v2.npy": npy(np.ones((2, 2), np.int32), version=(2, 0)),
        "stored.npz": npz({"x": np.ones((2, 3), np.float32), "y": np.arange(4, dtype=np.int16)}, False),
        "deflated.npz": npz({"x": rng.normal(size=(5, 3)).astype(np.float32)}, True),
    }
    broken = {
        "nan.npy": npy(np.array([[1.0, np.nan]], np.float32)),
        "scalar.npy": npy(np.float32(1.0)),
        "zero_samples.npy": npy(np.zeros((0, 3), np.float32)),
        "f4_cut.npy": good["f4.npy"][:-5],
        "f4_hdrcut.npy": good["f4.npy"][:30],
        "f4_liar.npy": good["f4.npy"].replace(b"(3, 4)", b"(9, 4)"),
        "stored_cut.npz": good["stored.npz"][:-40],
        "deflated_flip.npz": bytearray(good["deflated.npz"]),
        "empty.npy": b"",
    }
    broken["deflated_flip.npz"][80] ^= 0x5A
    for name, data in list(good.items()) + list(broken.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes(data))


if __name__ == "__main__":
    main()
