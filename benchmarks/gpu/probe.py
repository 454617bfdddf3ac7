"""Proves the set-up before anything else: ASTRA loads, sees the GPU, projects in 3D, runs FDK.

Uses ASTRA alone (not this package), so a failure here is the set-up's, not the package's.
Prints the versions, which ``libcudart``/``libcufft`` the process loaded (the cuFFT shim and
its target when ASTRA's wheel has no cuFFT of its own), then:

* ``torch.cuda.is_available()``, ``import astra``, ``astra.use_cuda()``;
* one 3D parallel-beam forward projection of a (48, 64, 64) block of ones: every view must
  see the whole mass to 1 % (sum of a view = sum of the volume, unit voxels and pixels);
* one FDK (``FDK_CUDA``, the only ASTRA call that uses cuFFT) of a ball seen by 180 cone-beam
  views over 360°: the reconstruction must match the ball to a relative error under 0.5,
  with a centre value within 30 % of 1 (a broken cuFFT gives zeros, NaNs or noise).

Ends with "FDK ok" on success; exits 1 at the first check that fails.
"""

import importlib.metadata
import os
import sys

import numpy as np


def loaded_libraries():
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libcufft" in line or "libcudart" in line}
    return sorted(paths)


def fail(message):
    print(f"FAILED: {message}", flush=True)
    sys.exit(1)


def main():
    print(f"python {sys.version.split()[0]}")
    # the last five: requirements whose versions machine_packages.txt does not know
    for name in ("torch", "numpy", "scipy", "astra-toolbox", "odl", "diffusers", "pytest",
                 "packaging", "setuptools", "regex", "pygments", "zipp"):
        try:
            print(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            print(f"{name} not installed")
    for name in ("LD_LIBRARY_PATH", "CUFFT_SHIM_TARGET"):
        print(f"{name}={os.environ.get(name, '')}")
    import torch

    if not torch.cuda.is_available():
        fail(f"torch {torch.__version__} sees no CUDA device")
    print(f"torch CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
    import astra

    print(f"astra {astra.__version__} from {astra.__file__}")
    print("libraries loaded: " + ", ".join(loaded_libraries()))
    if not astra.use_cuda():
        fail("astra.use_cuda() is False")
    print("astra.use_cuda() True")

    volume = np.ones((48, 64, 64), np.float32)                  # (Z, Y, X)
    vol_geom = astra.create_vol_geom(64, 64, 48)
    angles = np.linspace(0, np.pi, 8, endpoint=False)
    proj_geom = astra.create_proj_geom("parallel3d", 1.0, 1.0, 64, 128, angles)
    sino_id, sino = astra.create_sino3d_gpu(volume, proj_geom, vol_geom)
    astra.data3d.delete(sino_id)
    mass = sino.sum(axis=(0, 2)) / volume.sum()                 # per view, should be 1
    print(f"3D forward projection {sino.shape} (det_rows, angles, det_cols): view mass / volume "
          f"mass in [{mass.min():.4f}, {mass.max():.4f}]")
    if sino.shape != (64, 8, 128) or np.abs(mass - 1).max() > 1e-2:
        fail("the 3D forward projection is wrong")

    z, y, x = np.mgrid[:64, :64, :64] - 31.5
    ball = (z**2 + y**2 + x**2 < 20**2).astype(np.float32)
    vol_geom = astra.create_vol_geom(64, 64, 64)
    angles = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    proj_geom = astra.create_proj_geom("cone", 1.5, 1.5, 112, 112, angles, 256.0, 128.0)
    sino_id, _ = astra.create_sino3d_gpu(ball, proj_geom, vol_geom)
    rec_id = astra.data3d.create("-vol", vol_geom, 0)
    config = astra.astra_dict("FDK_CUDA")
    config["ProjectionDataId"], config["ReconstructionDataId"] = sino_id, rec_id
    algorithm = astra.algorithm.create(config)
    astra.algorithm.run(algorithm)
    rec = astra.data3d.get(rec_id)
    for delete, handle in ((astra.algorithm.delete, algorithm), (astra.data3d.delete, sino_id),
                           (astra.data3d.delete, rec_id)):
        delete(handle)
    error = np.linalg.norm(rec - ball) / np.linalg.norm(ball)
    print(f"FDK of a ball (r = 20 voxels), 180 cone-beam views: relative error {error:.3f}, "
          f"centre value {rec[32, 32, 32]:.3f} (1 expected)")
    if not np.isfinite(error) or error > 0.5 or abs(rec[32, 32, 32] - 1) > 0.3:
        fail("FDK does not reconstruct the ball (cuFFT missing or wrong?)")
    print("FDK ok")


if __name__ == "__main__":
    main()
