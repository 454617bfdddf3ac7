"""Procedural 3D CT-like phantoms for training, tests and benchmarks.

Each phantom is a float32 ``(Z, Y, X)`` volume with values in [0, 1] (air 0, soft tissue
≈ 0.45, bone up to 1), generated from an integer seed. Structures continue across slices so
that a 3D prior has cross-slice structure to learn, and the volumes carry what total variation
cannot model well:

* a body outline whose cross-section changes smoothly along z, with a fat layer;
* smooth intensity shading and fine soft-tissue mottle;
* two lungs with parenchyma texture, wandering bright vessels and a few small nodules;
* a spine with a cortical rim and trabecular texture;
* organs (ellipsoids of varied size, orientation and contrast);
* thin curved plates (rib-like) and tubes that wander along any axis;
* a slight partial-volume blur, so that edges are not perfectly sharp.

Seed ranges keep the sets apart: :func:`training_seeds`, :func:`validation_seeds` and
:func:`held_out_seeds` never overlap.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

TRAINING_SEED_BASE = 0
VALIDATION_SEED_BASE = 1_000_000
TEST_SEED_BASE = 2_000_000


def training_seeds(count: int) -> list[int]:
    return [TRAINING_SEED_BASE + i for i in range(count)]


def validation_seeds(count: int) -> list[int]:
    return [VALIDATION_SEED_BASE + i for i in range(count)]


def held_out_seeds(count: int) -> list[int]:
    return [TEST_SEED_BASE + i for i in range(count)]


def phantom_volume(seed: int, shape: tuple[int, int, int] = (64, 64, 64)) -> np.ndarray:
    """One CT-like phantom, float32 ``shape = (Z, Y, X)``, values in [0, 1]."""
    if len(shape) != 3 or min(shape) < 3:
        raise ValueError(f"shape must be (Z, Y, X) with every size >= 3, got {shape}")
    rng = np.random.default_rng(seed)
    grid = _grid(shape)
    z, y, x = grid
    body = _body_mask(grid, rng)
    vol = np.zeros(shape, np.float32)
    vol[body] = 0.45
    fat = body & ~_body_mask(grid, rng, shrink=rng.uniform(0.88, 0.93))
    vol[fat] = rng.uniform(0.33, 0.40)

    for _ in range(rng.integers(2, 5)):
        organ = _ellipsoid(grid, rng, centre_scale=0.45, size=(0.12, 0.35)) & body
        vol[organ] = rng.uniform(0.48, 0.68)

    lungs = _lungs(grid, rng) & body & ~fat
    parenchyma = 0.08 + 0.05 * _smooth_noise(shape, rng, sigma=0.8)
    vol[lungs] = parenchyma[lungs]

    for _ in range(rng.integers(6, 12)):
        vessel = _wandering_tube(grid, rng, radius=rng.uniform(0.015, 0.05))
        vol[vessel & body] = rng.uniform(0.55, 0.8)
    for _ in range(rng.integers(1, 4)):
        vol[_nodule(grid, rng) & lungs] = rng.uniform(0.45, 0.6)

    spine, cortex = _spine(grid, rng)
    trabecular = 0.62 + 0.12 * _smooth_noise(shape, rng, sigma=0.7)
    vol[spine] = trabecular[spine]
    vol[cortex] = 0.95
    for _ in range(rng.integers(2, 5)):
        vol[_thin_plate(grid, rng) & body & ~lungs] = rng.uniform(0.7, 0.9)

    shading = 1 + 0.06 * _smooth_noise(shape, rng, sigma=10) + 0.02 * _smooth_noise(
        shape, rng, sigma=1.2)
    vol = np.where(body, vol * shading, 0.0)
    vol = gaussian_filter(vol, sigma=0.5)
    return np.clip(vol, 0.0, 1.0).astype(np.float32)


def phantom_volumes(seeds, shape=(64, 64, 64)) -> np.ndarray:
    """Several phantoms stacked: ``(len(seeds), Z, Y, X)`` float32."""
    return np.stack([phantom_volume(s, shape) for s in seeds])


def _grid(shape):
    """Normalised coordinates in [-1, 1] along each axis, broadcastable ``(Z,1,1)`` etc."""
    axes = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    return np.meshgrid(*axes, indexing="ij", sparse=True)


def _smooth_noise(shape, rng, sigma):
    """Gaussian noise blurred by ``sigma`` voxels, rescaled to unit standard deviation."""
    noise = gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return noise / (noise.std() + 1e-8)


def _wave(z, rng, amplitude, frequency=(0.5, 2.0)):
    """A smooth random function of one coordinate: ``amplitude · sin(f z + φ)``."""
    return amplitude * np.sin(rng.uniform(*frequency) * np.pi * z + rng.uniform(0, 2 * np.pi))


def _body_mask(grid, rng, shrink=1.0):
    z, y, x = grid
    state = rng.bit_generator.state
    ay = (0.62 + _wave(z, rng, 0.05)) * shrink
    ax = (0.85 + _wave(z, rng, 0.05)) * shrink
    if shrink != 1.0:
        rng.bit_generator.state = state  # the same outline, only scaled
    return (y / ay) ** 2 + (x / ax) ** 2 <= 1.0


def _ellipsoid(grid, rng, centre_scale, size):
    z, y, x = grid
    c = rng.uniform(-centre_scale, centre_scale, 3)
    r = rng.uniform(*size, 3)
    angle = rng.uniform(0, np.pi)
    u = (y - c[1]) * np.cos(angle) + (x - c[2]) * np.sin(angle)
    v = -(y - c[1]) * np.sin(angle) + (x - c[2]) * np.cos(angle)
    return ((z - c[0]) / (3 * r[0])) ** 2 + (u / r[1]) ** 2 + (v / r[2]) ** 2 <= 1.0


def _lungs(grid, rng):
    z, y, x = grid
    mask = np.zeros(np.broadcast_shapes(z.shape, y.shape, x.shape), bool)
    for side in (-1, 1):
        cx = side * rng.uniform(0.35, 0.45) + _wave(z, rng, 0.03)
        cy = rng.uniform(-0.15, 0.0)
        rx, ry = rng.uniform(0.2, 0.28), rng.uniform(0.3, 0.4)
        taper = 1 - 0.35 * np.clip(z - rng.uniform(0.2, 0.6), 0, None)
        mask |= ((x - cx) / (rx * taper)) ** 2 + ((y - cy) / (ry * taper)) ** 2 <= 1.0
    return mask


def _wandering_tube(grid, rng, radius):
    """A tube running along a random axis, its centre wandering smoothly."""
    axes = list(grid)
    along = rng.integers(3)
    t = axes.pop(along)
    a, b = axes
    ca = rng.uniform(-0.5, 0.5) + _wave(t, rng, rng.uniform(0.05, 0.2))
    cb = rng.uniform(-0.5, 0.5) + _wave(t, rng, rng.uniform(0.05, 0.2))
    return (a - ca) ** 2 + (b - cb) ** 2 <= radius ** 2


def _nodule(grid, rng):
    z, y, x = grid
    c = rng.uniform(-0.5, 0.5, 3)
    r = rng.uniform(0.03, 0.07)
    return (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= r ** 2


def _spine(grid, rng):
    z, y, x = grid
    cy = rng.uniform(0.35, 0.45) + _wave(z, rng, 0.02)
    cx = _wave(z, rng, 0.03)
    r = rng.uniform(0.1, 0.14)
    d2 = (y - cy) ** 2 + (x - cx) ** 2
    return d2 <= (0.8 * r) ** 2, (d2 <= r ** 2) & (d2 > (0.8 * r) ** 2)


def _thin_plate(grid, rng):
    """A thin curved slab (rib-like): a tilted, bent plane of limited extent."""
    z, y, x = grid
    normal = rng.standard_normal(3)
    normal /= np.linalg.norm(normal)
    bend = rng.uniform(-0.6, 0.6)
    offset = rng.uniform(-0.5, 0.5)
    distance = normal[0] * z + normal[1] * y + normal[2] * x - offset - bend * (x ** 2)
    extent = (y - rng.uniform(-0.3, 0.3)) ** 2 + (z - rng.uniform(-0.5, 0.5)) ** 2 <= 0.25
    return (np.abs(distance) <= rng.uniform(0.015, 0.03)) & extent
