"""Sub-domains of a meshed virtual cell for mixed-domain assembly.

All integrals live on the parent mesh (one integration domain per form); unknowns live
on submeshes and are reached through entity maps:

- the CAM submesh (c_s; Φ_s in the ASSB),
- the electron-conducting submesh CAM ∪ CBD (Φ_s of the LIB; the CAM submesh itself
  when the cell has no CBD),
- the ion-conducting submesh: cathode electrolyte + CBD + separator (Φ_e; c_e for
  liquid cells). CBD cells belong to both sets (overlapping submeshes).

Interface facets (CAM|electrolyte, CAM|CBD and CAM|separator, each with its own ``dS``
id) are integrated on integration entities ordered so that the '+' side is always the
CAM cell: the raw order
depends on the partition, and a submesh function restricted to the wrong side silently
evaluates to zero. The collector (CAM facets on x = Lx) and the anode (electrolyte
facets on x = 0) are exterior-facet integrals. Areas are summed over ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl

from fem_assb._dolfinx import MPI, dolfinx, fem
from fem_assb.mesh import VoxelMesh, tags
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR
from fem_assb.structure.voxels import StructureError

IF_ELECTROLYTE, IF_CBD, IF_SEPARATOR = 1, 2, 3  # dS ids: CAM|electrolyte, CAM|CBD, CAM|sep.
INTERFACE = (IF_ELECTROLYTE, IF_CBD, IF_SEPARATOR)  # the whole CAM interface
COLLECTOR = 1  # ds subdomain id of the (CAM, CBD)|collector contact
ANODE = 2  # ds subdomain id of the electrolyte|anode face
ELECTROLYTE_PHASES = (ELECTROLYTE, CBD, SEPARATOR)
SOLID_PHASES = (CAM, CBD)
QUADRATURE_DEGREE = 2


@dataclass
class CellDomains:
    """Submeshes, entity maps and measures of a virtual cell mesh."""

    vm: VoxelMesh
    cam: dolfinx.mesh.Mesh
    electrolyte: dolfinx.mesh.Mesh
    solid: dolfinx.mesh.Mesh  # CAM ∪ CBD (the CAM submesh when there is no CBD)
    entity_maps: list
    dx: ufl.Measure
    dS: ufl.Measure
    ds: ufl.Measure
    interface_area: float  # m²
    collector_area: float  # m² of CAM touching the collector
    anode_area: float  # m²
    cross_section: float  # m² (Ly Lz)
    interface_entities: dict  # dS id -> interior-facet entities (cell+, facet+, cell−, facet−)

    @property
    def mesh(self):
        return self.vm.mesh

    def entity_map(self, submesh):
        """The entity map (parent ↔ ``submesh``) of one of the cell's submeshes."""
        subs = [self.cam, self.electrolyte] + ([self.solid] if self.solid is not self.cam
                                               else [])
        for sub, emap in zip(subs, self.entity_maps, strict=True):
            if sub is submesh:
                return emap
        raise KeyError("not a submesh of this cell")


def _owned_and_ghost_cells(vm: VoxelMesh, phases) -> np.ndarray:
    return np.flatnonzero(np.isin(vm.cell_tags.values, phases)).astype(np.int32)


def _area(msh, measure) -> float:
    one = fem.Constant(msh, 1.0)
    return msh.comm.allreduce(fem.assemble_scalar(fem.form(one * measure)), op=MPI.SUM)


def cell_domains(vm: VoxelMesh) -> CellDomains:
    """Build the CAM and electrolyte submeshes and the interface/boundary measures."""
    msh = vm.mesh
    top = msh.topology
    top.create_connectivity(2, 3)
    top.create_connectivity(3, 2)
    labels = vm.cell_tags.values
    cam_cells = _owned_and_ghost_cells(vm, (CAM,))
    ele_cells = _owned_and_ghost_cells(vm, ELECTROLYTE_PHASES)
    cam, cam_map, _, _ = dolfinx.mesh.create_submesh(msh, 3, cam_cells)
    ele, ele_map, _, _ = dolfinx.mesh.create_submesh(msh, 3, ele_cells)
    maps = [cam_map, ele_map]
    has_cbd = msh.comm.allreduce(int(np.any(labels == CBD)), op=MPI.MAX)
    solid = cam
    if has_cbd:
        solid, solid_map, _, _ = dolfinx.mesh.create_submesh(
            msh, 3, _owned_and_ghost_cells(vm, SOLID_PHASES))
        maps.append(solid_map)

    def interface(facet_tag):  # interior-facet entities with '+' = CAM cell
        facets = vm.facet_tags.find(facet_tag)
        ents = fem.compute_integration_domains(fem.IntegralType.interior_facet, top, facets)
        ents = np.asarray(ents).reshape(-1, 4).copy()
        swap = labels[ents[:, 0]] != CAM
        ents[swap] = ents[swap][:, [2, 3, 0, 1]]
        assert np.all(labels[ents[:, 0]] == CAM) and np.all(labels[ents[:, 2]] != CAM)
        return ents.ravel()

    # P1 fields: degree-2 quadrature is exact for the mass terms; without a fixed degree
    # UFL would estimate huge degrees for the nested exp/tanh of the kinetics
    md = {"quadrature_degree": QUADRATURE_DEGREE}
    if_ents = {IF_ELECTROLYTE: interface(tags.CAM_ELECTROLYTE),
               IF_CBD: interface(tags.CAM_CBD), IF_SEPARATOR: interface(tags.CAM_SEPARATOR)}
    dS = ufl.Measure("dS", domain=msh, metadata=md, subdomain_data=list(if_ents.items()))

    # collector: x = Lx facets of CAM cells; anode: x = 0 facets of electrolyte cells
    def exterior(face_tag, phases):
        f = vm.facet_tags.find(face_tag)
        e = np.asarray(fem.compute_integration_domains(fem.IntegralType.exterior_facet,
                                                       top, f)).reshape(-1, 2)
        return e[np.isin(labels[e[:, 0]], phases)].ravel()

    ds = ufl.Measure("ds", domain=msh, metadata=md, subdomain_data=[
        (COLLECTOR, exterior(tags.X1, SOLID_PHASES)),
        (ANODE, exterior(tags.X0, ELECTROLYTE_PHASES))])
    dx = ufl.Measure("dx", domain=msh, subdomain_data=vm.cell_tags, metadata=md)
    ly, lz = vm.lengths[1], vm.lengths[2]
    doms = CellDomains(vm, cam, ele, solid, maps, dx, dS, ds,
                       _area(msh, dS(INTERFACE)), _area(msh, ds(COLLECTOR)),
                       _area(msh, ds(ANODE)), ly * lz, if_ents)
    src = "cell"
    if doms.interface_area == 0:
        raise StructureError(f"{src}: the CAM has no contact with the electrolyte")
    if doms.collector_area == 0:
        raise StructureError(f"{src}: no CAM/CBD voxel touches the current collector (x = Lx)")
    if doms.anode_area == 0:
        raise StructureError(f"{src}: no electrolyte touches the anode face (x = 0)")
    return doms
