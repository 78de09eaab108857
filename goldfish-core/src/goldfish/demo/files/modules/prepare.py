"""Generate a digits-like dataset: 10 classes of noisy 8x8 glyphs, split into train and test.

Each row is 64 pixel values followed by the label, as float32.
"""

import numpy as np
from goldfish import io

cfg = io.config()
rng = np.random.default_rng(cfg["seed"])

# Ten smooth 8x8 prototypes, one per class.
prototypes = rng.random((10, 8, 8))
for _ in range(2):
    prototypes = (prototypes + np.roll(prototypes, 1, 1) + np.roll(prototypes, 1, 2)) / 3
prototypes = (prototypes - prototypes.mean(axis=(1, 2), keepdims=True)) * 8

labels = rng.integers(0, 10, cfg["samples"])
shift = rng.integers(-1, 2, (cfg["samples"], 2))
images = np.stack([np.roll(prototypes[y], tuple(s), (0, 1)) for y, s in zip(labels, shift, strict=True)])
images = images + rng.normal(0, cfg["noise"], images.shape)

data = np.hstack([images.reshape(len(labels), 64), labels[:, None]]).astype(np.float32)
cut = int(len(data) * (1 - cfg["test_fraction"]))
io.save_output("train", data[:cut])
io.save_output("test", data[cut:])
print(f"prepared {cut} training and {len(data) - cut} test examples")
