"""Physical constants and unit conversions (SI inside the code, user units at the edges)."""

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)

UM = 1e-6  # m per µm
MA_PER_CM2 = 10.0  # A/m² per mA/cm²
MAH_PER_CM2 = 36000.0  # C/m² per mAh/cm²  (1 mAh = 3.6 C, 1 cm² = 1e-4 m²)
