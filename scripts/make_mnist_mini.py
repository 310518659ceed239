"""Regenerate the MNIST mini subset shipped in ``ttrnn_np/data/mini/`` from the canonical files.

The subset is the first 5,000 training and the first 1,000 test images (and labels) of the canonical MNIST
files, stored as gzipped IDX files under the canonical names, plus ``NOTICE.md`` (source, license, checksums).
Gzip is written with mtime 0 and no file name, so the output depends only on the data (and the zlib version).

    python scripts/make_mnist_mini.py [DATA_DIR] [--out ttrnn_np/data/mini]

DATA_DIR holds the four canonical files (default: $TTRNN_DATA/mnist); they are verified by MD5 first.
The script prints the class balance and the MD5s; paste the content MD5s into ``MINI_MD5`` in
``ttrnn_np/data/mnist.py`` if they changed.
"""
import argparse
import gzip
import os
import sys
from pathlib import Path

import numpy as np

from ttrnn_np.data.download import atomic_output, md5_hex
from ttrnn_np.data.mnist import FILE_STEMS, MINI_DIR, MINI_MD5, MINI_SIZES, encode_idx, load_mnist

NOTICE = """# MNIST mini subset — source, license, checksums

The files in this folder are a subset of the MNIST database of handwritten digits by **Yann LeCun, Corinna
Cortes and Christopher J. C. Burges** (http://yann.lecun.com/exdb/mnist/), which is made available under the
**Creative Commons Attribution-Share Alike 3.0** license (CC BY-SA 3.0,
https://creativecommons.org/licenses/by-sa/3.0/). This subset is redistributed under the same license.

Changes: only the first {n_train:,} training images/labels and the first {n_test:,} test images/labels are kept
(in their original order), re-encoded as IDX and gzipped. Pixels and labels are unchanged. The files were made
with `scripts/make_mnist_mini.py` from the canonical files; `ttrnn_np.data.load_mnist(source="mini")` loads them
and checks the MD5 of the decompressed content.

Class balance (labels 0–9): train {train_counts}; test {test_counts}.

| file | shape | md5 of decompressed content | md5 of the shipped .gz file |
|---|---|---|---|
{rows}
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", default=None,
                        help="folder with the four canonical MNIST files (default: $TTRNN_DATA/mnist)")
    parser.add_argument("--out", type=Path, default=MINI_DIR, help=f"output folder (default: {MINI_DIR})")
    args = parser.parse_args(argv)
    if args.data_dir is None and not os.environ.get("TTRNN_DATA"):
        parser.error("give DATA_DIR or set TTRNN_DATA")
    data_dir = args.data_dir or Path(os.environ["TTRNN_DATA"]) / "mnist"

    rows, counts, content_md5 = [], {}, {}
    for split, n in MINI_SIZES.items():
        full = load_mnist(split, data_dir=data_dir)
        arrays = {"images": full.images[:n], "labels": full.labels[:n].astype(np.uint8)}  # (n, 28, 28), (n,)
        counts[split] = np.bincount(arrays["labels"], minlength=10)  # (10,)
        print(f"{split}: first {n} of {len(full)} images; class counts {counts[split].tolist()}")
        for kind, array in arrays.items():
            stem = FILE_STEMS[split, kind]
            content = encode_idx(array)
            packed = gzip.compress(content, compresslevel=9, mtime=0)
            with atomic_output(args.out / f"{stem}.gz") as tmp:
                tmp.write_bytes(packed)
            content_md5[stem] = md5_hex(content)
            rows.append(f"| {stem}.gz | {' × '.join(map(str, array.shape))} uint8 | {content_md5[stem]} | "
                        f"{md5_hex(packed)} |")
            print(f"  wrote {args.out / (stem + '.gz')}: {len(packed):,} bytes, content md5 {content_md5[stem]}")

    notice = NOTICE.format(n_train=MINI_SIZES["train"], n_test=MINI_SIZES["test"],
                           train_counts=" ".join(map(str, counts["train"])),
                           test_counts=" ".join(map(str, counts["test"])), rows="\n".join(rows))
    with atomic_output(args.out / "NOTICE.md") as tmp:
        tmp.write_text(notice)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {args.out / 'NOTICE.md'}; folder total {total:,} bytes")
    if content_md5 != MINI_MD5:
        print("MINI_MD5 in ttrnn_np/data/mnist.py differs; set it to:\nMINI_MD5 = {")
        print("\n".join(f'    "{stem}": "{md5}",' for stem, md5 in content_md5.items()) + "\n}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
