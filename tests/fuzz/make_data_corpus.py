#!/usr/bin/python3
"""Seed corpus of the data-reader fuzzer (fuzz_data.c): corpus_data/.

    /usr/bin/python3 tests/fuzz/make_data_corpus.py      # rewrites tests/fuzz/corpus_data/

Good files (.npy of every dtype kind, Fortran order, big-endian, format 2.0, .npz stored and
deflated, an .npz in zip64 form) and broken ones (cut, a flipped byte, a header that lies).
The zip64 archive and a Fortran-order, big-endian .npz also go to corpus_donor/ (the donor
readers share the reader)."""
import io
import os
import struct
import zipfile
import zlib

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


def zip64(members):
    """A stored zip of {name: bytes} whose directory gives sizes and offsets in zip64 extra
    fields and ends with the zip64 end records, as an archive past 4 GiB does."""
    out, cd = b"", b""
    for name, data in members.items():
        nb, crc = name.encode(), zlib.crc32(data)
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, len(data), len(data),
                           len(nb), 0) + nb + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                          0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(extra), 0, 0, 0, 0,
                          0xFFFFFFFF) + nb + extra
    cd_off, n = len(out), len(members)
    rec_off = cd_off + len(cd)
    rec = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_off)
    loc = struct.pack("<IIQI", 0x07064B50, 0, rec_off, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return out + cd + rec + loc + end


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
        "zip64.npz": zip64({"x.npy": npy(np.ones((2, 3), np.float32)),
                            "y.npy": npy(np.arange(4, dtype=np.int16))}),
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
    donor = os.path.join(os.path.dirname(OUT), "corpus_donor")
    fb = zip64({"fc.weight.npy": npy(np.asfortranarray(rng.normal(size=(4, 3))).astype(">f4")),
                "fc.bias.npy": npy(np.arange(4, dtype=">f8"))})
    for name, data in (("zip64.npz", good["zip64.npz"]), ("zip64_fortran_be.npz", fb)):
        with open(os.path.join(donor, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
