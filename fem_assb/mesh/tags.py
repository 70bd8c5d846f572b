"""Facet tag values of voxel meshes (cell tags are the phase ids of fem_assb.structure)."""

CAM_ELECTROLYTE = 1  # CAM | electrolyte (liquid or solid) interface
CAM_CBD = 2  # CAM | carbon-binder domain interface
CAM_SEPARATOR = 3  # CAM | separator interface
X0 = 10  # face x = 0: separator side of a cathode, anode face of a virtual cell
X1 = 11  # face x = Lx: current collector
Y0, Y1, Z0, Z1 = 12, 13, 14, 15  # symmetry planes

INTERFACES = {(1, 2): CAM_ELECTROLYTE, (1, 3): CAM_CBD, (1, 4): CAM_SEPARATOR}
FACE_NAMES = {"x0": X0, "x1": X1, "y0": Y0, "y1": Y1, "z0": Z0, "z1": Z1}
