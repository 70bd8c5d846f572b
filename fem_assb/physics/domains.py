"""Sub-domains of a meshed virtual cell for mixed-domain assembly.

All integrals live on the parent mesh (one integration domain per form); unknowns live
on submeshes and are reached through entity maps:

- the CAM submesh (c_s; Φ_s in the ASSB),
- the electron-conducting submesh CAM ∪ CBD (Φ_s of the LIB; the CAM submesh itself
  when the cell has no CBD),
- the ion-conducting submesh: cathode electrolyte + CBD + separator (Φ_e; c_e for
  liquid cells). CBD cells belong to both sets (overlapping submeshes).

Interface facets (CAM|electrolyte, CAM|CBD and CAM|separator, each with its own ``dS``
id) are given as integration entities ordered so that the '+' side is always the CAM
cell: the raw order depends on the partition, and a submesh function restricted to the
wrong side silently evaluates to zero. The collector (CAM facets on x = Lx) and the
anode (electrolyte facets on x = 0) are exterior-facet entities (``ds`` ids). The cell
models assemble all facet terms vertex by vertex from these entities
(``fem_assb.physics.nodal``); the ``dS``/``ds`` measures remain for checks and
post-processing (a form with facet integrals makes DOLFINx create the mesh's facets).
Areas are summed over ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ufl

from fem_assb._dolfinx import MPI, dolfinx, fem
from fem_assb._dolfinx_private import entity_map
from fem_assb.mesh import ImportedMesh, VoxelMesh, tags
from fem_assb.mesh.voxel_mesh import facet_areas, facet_midpoints
from fem_assb.structure.phases import CAM, CBD, ELECTROLYTE, SEPARATOR
from fem_assb.structure.voxels import StructureError

CellMesh = VoxelMesh | ImportedMesh  # what a cell model runs on

IF_ELECTROLYTE, IF_CBD, IF_SEPARATOR = 1, 2, 3  # dS ids: CAM|electrolyte, CAM|CBD, CAM|sep.
INTERFACE = (IF_ELECTROLYTE, IF_CBD, IF_SEPARATOR)  # the whole CAM interface
_PARTNER_PHASE = {IF_ELECTROLYTE: ELECTROLYTE, IF_CBD: CBD, IF_SEPARATOR: SEPARATOR}
COLLECTOR = 1  # ds subdomain id of the (CAM, CBD)|collector contact
ANODE = 2  # ds subdomain id of the electrolyte|anode face
ELECTROLYTE_PHASES = (ELECTROLYTE, CBD, SEPARATOR)
SOLID_PHASES = (CAM, CBD)
QUADRATURE_DEGREE = 2


@dataclass
class CellDomains:
    """Submeshes, entity maps and measures of a virtual cell mesh."""

    vm: CellMesh
    cam: dolfinx.mesh.Mesh
    electrolyte: dolfinx.mesh.Mesh
    solid: dolfinx.mesh.Mesh  # CAM ∪ CBD (the CAM submesh when there is no CBD)
    entity_maps: list
    dx: ufl.Measure
    dS: ufl.Measure
    ds: ufl.Measure
    interface_area: float  # m² (of the surface the facets stand for)
    collector_area: float  # m² of CAM touching the collector
    anode_area: float  # m²
    cross_section: float  # m² (Ly Lz)
    interface_entities: dict  # dS id -> interior-facet entities (cell+, facet+, cell−, facet−)
    boundary_entities: dict  # ds id -> exterior-facet entities, rows (cell, local facet)

    @property
    def mesh(self):
        return self.vm.mesh

    def area_factor(self, tag: int, ents: np.ndarray) -> np.ndarray:
        """Surface area over facet area of interface facets ``ents`` (rows (cell+,
        facet+, cell−, facet−)) of dS id ``tag``: 1 but on smoothed voxel meshes, whose
        folded facets stand for a smooth surface (``fem_assb.mesh.surface_area``)."""
        ents = ents.reshape(-1, 4)
        return self.vm.area_factor(_PARTNER_PHASE[tag],
                                   facet_midpoints(self.mesh, ents[:, :2]))

    def entity_map(self, submesh):
        """The entity map (parent ↔ ``submesh``) of one of the cell's submeshes."""
        subs = [self.cam, self.electrolyte] + ([self.solid] if self.solid is not self.cam
                                               else [])
        for sub, emap in zip(subs, self.entity_maps, strict=True):
            if sub is submesh:
                return emap
        raise KeyError("not a submesh of this cell")


def _owned_and_ghost_cells(vm: CellMesh, phases) -> np.ndarray:
    return np.flatnonzero(np.isin(vm.cell_tags.values, phases)).astype(np.int32)


def _area(msh, cell_facets: np.ndarray, factor: np.ndarray | float = 1.0) -> float:
    """Total area (m²) of the facets (rows (cell, local facet)), each times ``factor``,
    over all ranks."""
    return msh.comm.allreduce(float(np.sum(facet_areas(msh, cell_facets) * factor)),
                              op=MPI.SUM)


def _entity_map(parent, submesh, sub_to_parent: np.ndarray) -> dolfinx.mesh.EntityMap:
    """The cell map of ``submesh`` into ``parent`` (local indices)."""
    return entity_map(parent, submesh, sub_to_parent)


def _submeshes_and_entities(vm: CellMesh):
    """Submeshes (CAM, electrolyte[, solid]) with their cells' parent indices, and the
    interface and boundary integration entities, all made on ``vm``'s present mesh."""
    msh = vm.mesh
    top = msh.topology
    top.create_connectivity(2, 3)
    top.create_connectivity(3, 2)
    labels = vm.cell_tags.values
    phase_sets = [(CAM,), ELECTROLYTE_PHASES]
    if msh.comm.allreduce(int(np.any(labels == CBD)), op=MPI.MAX):
        phase_sets.append(SOLID_PHASES)
    subs = []
    for phases in phase_sets:
        sub, emap, _, _ = dolfinx.mesh.create_submesh(msh, 3,
                                                      _owned_and_ghost_cells(vm, phases))
        n = sub.topology.index_map(3).size_local + sub.topology.index_map(3).num_ghosts
        subs.append((sub, emap.sub_topology_to_topology(np.arange(n, dtype=np.int32), False)))

    def interface(facet_tag):  # interior-facet entities with '+' = CAM cell
        facets = vm.facet_tags.find(facet_tag)
        ents = fem.compute_integration_domains(fem.IntegralType.interior_facet, top, facets)
        ents = np.asarray(ents).reshape(-1, 4).copy()
        swap = labels[ents[:, 0]] != CAM
        ents[swap] = ents[swap][:, [2, 3, 0, 1]]
        assert np.all(labels[ents[:, 0]] == CAM) and np.all(labels[ents[:, 2]] != CAM)
        return ents.ravel()

    if_ents = {IF_ELECTROLYTE: interface(tags.CAM_ELECTROLYTE),
               IF_CBD: interface(tags.CAM_CBD), IF_SEPARATOR: interface(tags.CAM_SEPARATOR)}

    # collector: x = Lx facets of CAM cells; anode: x = 0 facets of electrolyte cells
    def exterior(face_tag, phases):
        f = vm.facet_tags.find(face_tag)
        e = np.asarray(fem.compute_integration_domains(fem.IntegralType.exterior_facet,
                                                       top, f)).reshape(-1, 2)
        return e[np.isin(labels[e[:, 0]], phases)].ravel()

    ds_ents = [(COLLECTOR, exterior(tags.X1, SOLID_PHASES)),
               (ANODE, exterior(tags.X0, ELECTROLYTE_PHASES))]
    return subs, if_ents, ds_ents


def cell_domains(vm: CellMesh) -> CellDomains:
    """Build the CAM and electrolyte submeshes and the interface/boundary measures.

    The submeshes and the integration entities are made on ``vm``'s mesh, which then is
    replaced by an identical one without edges and facets (``VoxelMesh.drop_entities``):
    DOLFINx's ``create_submesh`` makes all of them, and a cell model needs none (its facet
    terms are nodal: ``fem_assb.physics.nodal``)."""
    subs, if_ents, ds_ents = _submeshes_and_entities(vm)
    vm.drop_entities()
    msh = vm.mesh
    maps = [_entity_map(msh, sub, s2p) for sub, s2p in subs]
    cam, ele = subs[0][0], subs[1][0]
    solid = subs[2][0] if len(subs) == 3 else cam
    # P1 fields: degree-2 quadrature is exact for the mass terms; without a fixed degree
    # UFL would estimate huge degrees for the nested exp/tanh of the kinetics
    md = {"quadrature_degree": QUADRATURE_DEGREE}
    dS = ufl.Measure("dS", domain=msh, metadata=md, subdomain_data=list(if_ents.items()))
    ds = ufl.Measure("ds", domain=msh, metadata=md, subdomain_data=ds_ents)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=vm.cell_tags, metadata=md)
    ly, lz = vm.lengths[1], vm.lengths[2]
    areas = [_area(msh, e.reshape(-1, 2)) for _, e in ds_ents]
    doms = CellDomains(vm, cam, ele, solid, maps, dx, dS, ds, 0.0, *areas, ly * lz, if_ents,
                       {k: e.reshape(-1, 2) for k, e in ds_ents})
    doms.interface_area = sum(_area(msh, e.reshape(-1, 4)[:, :2], doms.area_factor(tag, e))
                              for tag, e in if_ents.items())
    src = "cell"
    if doms.interface_area == 0:
        raise StructureError(f"{src}: the CAM has no contact with the electrolyte")
    if doms.collector_area == 0:
        raise StructureError(f"{src}: no CAM/CBD voxel touches the current collector (x = Lx)")
    if doms.anode_area == 0:
        raise StructureError(f"{src}: no electrolyte touches the anode face (x = 0)")
    return doms
