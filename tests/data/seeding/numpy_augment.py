"""numpy augmentation: random flips and noise on a batch of images; prints a digest."""
import hashlib

import numpy as np


def augment(images):
    flips = np.random.rand(len(images)) < 0.5
    images[flips] = images[flips, :, ::-1]
    return images + np.random.normal(scale=0.1, size=images.shape)


def main():
    batch = np.arange(4 * 6 * 6, dtype=np.float64).reshape(4, 6, 6)
    rng = np.random.default_rng()
    crops = rng.integers(0, 3, size=4)
    result = augment(batch)
    print(hashlib.sha256(result.tobytes() + crops.tobytes()).hexdigest())


if __name__ == "__main__":
    main()
