"""A circular ``parallel3d`` geometry as the equivalent stack of 2D ``parallel`` slices (CPU).

When every detector row sees exactly one volume slice — as many rows as slices, the row
height equal to the slice thickness, the volume centred in Z on the detector — a circular
parallel-beam scan is a stack of independent 2D scans, one per slice, which ASTRA projects on
CPU (:func:`~.astra.astra_operator` with ``slices=Z``).

Axis orders. ASTRA's parallel3d projections are ``(det_rows, angles, det_cols)`` and a stack
of 2D sinograms is ``(Z, angles, det)``: with row ``r`` seeing slice ``z = r`` (both count
upwards in world ``z``), the two layouts coincide and the arrays need no transpose. Volumes
are ``(Z, Y, X)`` in both. The one difference is the orientation of ``Y``: ASTRA's 3D
volumes count rows upwards in world ``y`` (row 0 at ``WindowMinY``) while its 2D volumes count
them downwards (row 0 at ``WindowMaxY``). Mirroring ``y`` is the same as negating the angles,
so the 2D geometry uses ``-θ`` and the mirrored ``Y`` window; then the same ``(Z, Y, X)``
array and the same ``(det_rows, angles, det_cols)`` array describe the object in both.
"""

import numpy as np

from .astra_geometry import check_geometry_pair, voxel_size


def parallel3d_to_stack(proj_geom: dict, vol_geom: dict) -> tuple[dict, dict, int]:
    """The 2D geometry pair and slice count equivalent to a circular ``parallel3d`` pair.

    Use it as ``proj_2d, vol_2d, z = parallel3d_to_stack(proj_geom, vol_geom)`` and
    ``as_operator(proj_2d, vol_2d, slices=z)``: that operator maps the ``(Z, Y, X)`` volume to
    the ``(det_rows, angles, det_cols)`` projections of the 3D geometry (see module).

    Raises ``ValueError`` unless ``proj_geom`` is ``parallel3d`` with ``DetectorRowCount``
    equal to the vol_geom's slices, ``DetectorSpacingY`` equal to the slice thickness and the
    Z window centred on the origin (a ``_vec`` or tilted geometry has no 2D equivalent).
    """
    if check_geometry_pair(proj_geom, vol_geom) != 3 or proj_geom["type"] != "parallel3d":
        raise ValueError(f"parallel3d_to_stack needs a circular 'parallel3d' geometry with a 3D "
                         f"vol_geom, got {proj_geom['type']!r}")
    slices = vol_geom["GridSliceCount"]
    thickness = voxel_size(vol_geom)[0]
    option = vol_geom.get("option", {})
    z_lo = float(option.get("WindowMinZ", -slices / 2))
    z_hi = float(option.get("WindowMaxZ", slices / 2))
    rows, spacing = proj_geom["DetectorRowCount"], float(proj_geom["DetectorSpacingY"])
    if rows != slices or not np.isclose(spacing, thickness, rtol=1e-6) \
            or not np.isclose(z_lo, -z_hi, atol=1e-6 * thickness):
        raise ValueError(f"a parallel3d geometry is a stack of 2D slices only when each detector "
                         f"row sees one slice: need DetectorRowCount = GridSliceCount "
                         f"(got {rows} and {slices}), DetectorSpacingY = slice thickness "
                         f"(got {spacing:g} and {thickness:g}) and a Z window centred on 0 "
                         f"(got {z_lo:g} to {z_hi:g})")
    y_lo = float(option.get("WindowMinY", -vol_geom["GridRowCount"] / 2))
    y_hi = float(option.get("WindowMaxY", vol_geom["GridRowCount"] / 2))
    x_lo = float(option.get("WindowMinX", -vol_geom["GridColCount"] / 2))
    x_hi = float(option.get("WindowMaxX", vol_geom["GridColCount"] / 2))
    proj_2d = {"type": "parallel", "DetectorWidth": float(proj_geom["DetectorSpacingX"]),
               "DetectorCount": proj_geom["DetectorColCount"],
               "ProjectionAngles": -np.asarray(proj_geom["ProjectionAngles"], dtype=np.float64)}
    vol_2d = {"GridRowCount": vol_geom["GridRowCount"], "GridColCount": vol_geom["GridColCount"],
              "option": {"WindowMinX": x_lo, "WindowMaxX": x_hi,
                         "WindowMinY": -y_hi, "WindowMaxY": -y_lo}}
    return proj_2d, vol_2d, slices
