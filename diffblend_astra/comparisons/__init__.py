"""The systems DiffusionBlend is compared against, reimplemented on the package's parts.

======================  =====================================================================
module                  system
======================  =====================================================================
:mod:`.mbir`            DiffusionMBIR: VE predictor–corrector with a slice prior + ADMM-TV-z
:mod:`.tpdm`            TPDM: axial and coronal slice priors used alternately
:mod:`.padis`           PaDIS: a patch prior with positions, its network, training, checkpoint
:mod:`.fbp_unet`        FBP-UNet: a supervised residual UNet from FBP to the volume
:mod:`.registry`        their entries for :mod:`diffblend_astra.methods` (``EXTRA_METHODS``)
======================  =====================================================================

They build on the core (operators, priors, networks, solver, data consistency, training) and
nothing in the core imports them; :mod:`diffblend_astra.methods` imports :mod:`.registry`
only when one of these methods is asked for.
"""
