"""Experiments: what is done to a cell, as a list of protocol steps.

A step is a constant current (discharge or charge, in mA/cm² or as a C-rate of the
cell's theoretical capacity), a constant-voltage hold or a rest, ended by a voltage, a
current, a capacity or a time limit (whichever comes first). Steps run one after the
other from the state the previous one left. The text form follows PyBaMM's::

    "Discharge at 8 mA/cm2 until 3.0 V"
    "Discharge at C/20 for 30 minutes"
    "Charge at 1C until 4.3 V"
    "Hold at 4.3 V until C/50"            (or "until 0.1 mA/cm2", "for 1 hour")
    "Rest for 30 minutes"
    "Discharge at 2 mA/cm2 for 1 hour or until 3.0 V"
    "Discharge at 1C until 2 mAh/cm2"
    "10 x (Discharge at C/20 for 30 minutes; Rest for 1 hour)"   (a repeated cycle)

The same as data (TOML tables, dicts): ``{kind = "discharge", current_mA_cm2 = 8,
until_voltage_V = 3.0}``, ``{repeat = 10, steps = [...]}``. Plain Python: parsed and
validated without a mesh; currents and times become SI at ``Step.current_A_m2``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

from fem_assb.constants import MA_PER_CM2, MAH_PER_CM2

KINDS = ("discharge", "charge", "rest", "hold")
# more protocol steps than a run could take time steps (``RunOptions.max_steps`` is 2000
# by default): a repeat beyond it is a typing error, refused before any memory is taken
MAX_PROTOCOL_STEPS = 100_000


class ExperimentError(ValueError):
    """An experiment step that cannot be read or makes no sense (the message names it)."""


@dataclass(frozen=True)
class Step:
    """One protocol step (user units in the names; magnitudes, the kind gives the sign).

    A constant-current step gives ``current_mA_cm2`` or ``c_rate`` (multiples of the
    current that passes the theoretical capacity in one hour); a hold gives
    ``voltage_V``. Limits: ``duration_s``, ``until_voltage_V`` (CC steps),
    ``until_current_mA_cm2`` or ``until_c_rate`` (holds), ``until_capacity_mAh_cm2``
    (charge passed in the step).
    """

    kind: str
    current_mA_cm2: float | None = None
    c_rate: float | None = None
    voltage_V: float | None = None
    duration_s: float | None = None
    until_voltage_V: float | None = None
    until_current_mA_cm2: float | None = None
    until_c_rate: float | None = None
    until_capacity_mAh_cm2: float | None = None
    text: str = ""

    def __post_init__(self):
        name = f"'{self.text}'" if self.text else f"{self.kind} step"
        if self.kind not in KINDS:
            raise ExperimentError(f"{name}: kind must be one of {', '.join(KINDS)}, "
                                  f"got '{self.kind}'")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in ("kind", "text") and v is not None and not (
                    isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ExperimentError(f"{name}: {f.name} must be > 0 (a finite number), "
                                      f"got {v!r}")
        cc = self.kind in ("discharge", "charge")
        if cc and (self.current_mA_cm2 is None) == (self.c_rate is None):
            raise ExperimentError(f"{name}: give the current either in mA/cm2 or as a "
                                  "C-rate")
        if not cc and (self.current_mA_cm2 is not None or self.c_rate is not None):
            raise ExperimentError(f"{name}: a {self.kind} step has no current to set")
        if (self.kind == "hold") != (self.voltage_V is not None):
            raise ExperimentError(f"{name}: " + ("a hold needs its voltage ('Hold at 4.2 V "
                                                 "until C/50')" if self.kind == "hold" else
                                                 f"a {self.kind} step sets no voltage"))
        if self.until_voltage_V is not None and not cc:
            raise ExperimentError(f"{name}: a voltage limit ends constant-current steps only")
        if (self.until_current_mA_cm2 is not None or self.until_c_rate is not None) \
                and self.kind != "hold":
            raise ExperimentError(f"{name}: a current limit ends holds only")
        if self.until_current_mA_cm2 is not None and self.until_c_rate is not None:
            raise ExperimentError(f"{name}: give one current limit")
        if self.kind == "rest" and self.until_capacity_mAh_cm2 is not None:
            raise ExperimentError(f"{name}: no charge passes during a rest")
        if not self.limits():
            raise ExperimentError(f"{name}: the step has no end: give a duration ('for 1 "
                                  "hour') or a limit ('until 3.0 V')")

    def limits(self) -> list[str]:
        """The limits that end this step."""
        return [f.name for f in fields(self)
                if (f.name.startswith("until_") or f.name == "duration_s")
                and getattr(self, f.name) is not None]

    @property
    def sign(self) -> int:
        """+1 discharge, −1 charge, 0 rest and hold (their current is an output)."""
        return {"discharge": 1, "charge": -1}.get(self.kind, 0)

    def current_A_m2(self, theoretical_C_m2: float) -> float:
        """The applied current density (A/m², > 0 on discharge) of a CC step or rest."""
        if self.kind == "rest":
            return 0.0
        if self.c_rate is not None:
            return self.sign * self.c_rate * theoretical_C_m2 / 3600.0
        return self.sign * self.current_mA_cm2 * MA_PER_CM2

    def current_limit_A_m2(self, theoretical_C_m2: float) -> float | None:
        """|I| below which a hold ends (A/m²), or None."""
        if self.until_c_rate is not None:
            return self.until_c_rate * theoretical_C_m2 / 3600.0
        if self.until_current_mA_cm2 is not None:
            return self.until_current_mA_cm2 * MA_PER_CM2
        return None

    def capacity_limit_C_m2(self) -> float | None:
        return None if self.until_capacity_mAh_cm2 is None \
            else self.until_capacity_mAh_cm2 * MAH_PER_CM2

    def describe(self) -> str:
        return self.text or to_text(self)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != ""}


# ---------------------------------------------------------------------- text form
_NUM = r"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "secs": 1.0,
               "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
               "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
               "day": 86400.0, "days": 86400.0}
_DURATION = re.compile(rf"^{_NUM}\s*([a-z]+)$", re.I)
_VOLT = re.compile(rf"^{_NUM}\s*v$", re.I)
_CAPACITY = re.compile(rf"^{_NUM}\s*mah\s*/\s*cm(?:2|²|\^2)$", re.I)
_MA_CM2 = re.compile(rf"^{_NUM}\s*ma\s*/\s*cm(?:2|²|\^2)$", re.I)
_A_M2 = re.compile(rf"^{_NUM}\s*a\s*/\s*m(?:2|²|\^2)$", re.I)
_C_TIMES = re.compile(rf"^{_NUM}\s*c$", re.I)
_C_OVER = re.compile(rf"^c\s*/\s*{_NUM}$", re.I)
_STEP = re.compile(r"^(discharge|charge|hold|rest)\b\s*(.*)$", re.I)
_REPEAT = re.compile(r"^(\d+)\s*[x×*]\s*\((.*)\)$", re.S | re.I)


def _duration(text: str) -> float | None:
    m = _DURATION.match(text)
    if not m or m.group(2).lower() not in _TIME_UNITS:
        return None
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


def _current(text: str) -> dict | None:
    """{'current_mA_cm2': ...} or {'c_rate': ...} from '8 mA/cm2', '2 A/m2', '1C', 'C/3'."""
    for pattern, key, scale in ((_MA_CM2, "current_mA_cm2", 1.0),
                                (_A_M2, "current_mA_cm2", 1.0 / 10.0),
                                (_C_TIMES, "c_rate", 1.0)):
        m = pattern.match(text)
        if m:
            return {key: float(m.group(1)) * scale}
    m = _C_OVER.match(text)
    if m and float(m.group(1)) > 0:
        return {"c_rate": 1.0 / float(m.group(1))}
    return None


def _limit(text: str) -> dict | None:
    m = _VOLT.match(text)
    if m:
        return {"until_voltage_V": float(m.group(1))}
    m = _CAPACITY.match(text)
    if m:
        return {"until_capacity_mAh_cm2": float(m.group(1))}
    cur = _current(text)
    if cur is not None:
        return {"until_" + k: v for k, v in cur.items()}
    return None


def parse_step(text: str) -> Step:
    """A Step from its text form (see the module docstring); ExperimentError if unread."""
    raw = " ".join(str(text).split())
    s = raw.rstrip(".")
    m = _STEP.match(s)
    if not m:
        raise ExperimentError(f"'{raw}': a step starts with Discharge, Charge, Hold or Rest "
                              "(e.g. 'Discharge at 1C until 3.0 V')")
    kind, rest = m.group(1).lower(), m.group(2)
    spec: dict = {"kind": kind, "text": raw}
    # split off 'for <duration>' and 'until <limit>' clauses (joined by 'or')
    parts = re.split(r"\s+(?=\bfor\b|\buntil\b|\bor\b)", rest, flags=re.I)
    head = parts[0] if parts and not re.match(r"^(for|until|or)\b", parts[0], re.I) else ""
    clauses = parts[1:] if head else parts
    if kind in ("discharge", "charge", "hold"):
        if not head.lower().startswith("at "):
            example = "Hold at 4.2 V until C/50" if kind == "hold" else \
                f"{kind.capitalize()} at 1C until 3.0 V"
            raise ExperimentError(f"'{raw}': say what to {kind} at (e.g. '{example}')")
        value = head[3:].strip()
        if kind == "hold":
            v = _VOLT.match(value)
            if not v:
                raise ExperimentError(f"'{raw}': cannot read the voltage '{value}' (e.g. "
                                      "'4.2 V')")
            spec["voltage_V"] = float(v.group(1))
        else:
            cur = _current(value)
            if cur is None:
                raise ExperimentError(f"'{raw}': cannot read the current '{value}' (e.g. "
                                      "'8 mA/cm2', '1C', 'C/3')")
            spec.update(cur)
    elif head:
        raise ExperimentError(f"'{raw}': cannot read '{head}' (e.g. 'Rest for 30 minutes')")
    for clause in clauses:
        word, _, value = clause.partition(" ")
        word, value = word.lower(), value.strip()
        if word == "or":
            continue
        if word == "for":
            d = _duration(value)
            if d is None:
                raise ExperimentError(f"'{raw}': cannot read the duration '{value}' (e.g. "
                                      "'30 minutes', '1 hour', '600 s')")
            spec["duration_s"] = d
        else:  # until
            lim = _limit(value)
            if lim is None:
                raise ExperimentError(f"'{raw}': cannot read the limit '{value}' (a voltage "
                                      "'3.0 V', a current '0.1 mA/cm2' or 'C/50', a capacity "
                                      "'2 mAh/cm2')")
            spec.update(lim)
    try:
        return Step(**spec)
    except TypeError as err:
        raise ExperimentError(f"'{raw}': {err}") from None


def to_text(step: Step) -> str:
    """The text form of a step."""
    if step.kind == "hold":
        words = [f"Hold at {step.voltage_V:g} V"]
    elif step.kind == "rest":
        words = ["Rest"]
    else:
        cur = f"{step.current_mA_cm2:g} mA/cm2" if step.current_mA_cm2 is not None \
            else f"{step.c_rate:g}C"
        words = [f"{step.kind.capitalize()} at {cur}"]
    ends = []
    if step.duration_s is not None:
        ends.append(f"for {step.duration_s:g} s")
    if step.until_voltage_V is not None:
        ends.append(f"until {step.until_voltage_V:g} V")
    if step.until_current_mA_cm2 is not None:
        ends.append(f"until {step.until_current_mA_cm2:g} mA/cm2")
    if step.until_c_rate is not None:
        ends.append(f"until {step.until_c_rate:g}C")
    if step.until_capacity_mAh_cm2 is not None:
        ends.append(f"until {step.until_capacity_mAh_cm2:g} mAh/cm2")
    return " ".join(words + [" or ".join(ends)])


# ---------------------------------------------------------------------- experiments
class Experiment:
    """An ordered list of protocol steps (repeats expanded).

    ``Experiment(["Discharge at 1C until 3.0 V", "Rest for 1 hour"])``; items may be
    strings, ``Step``s, dicts of Step fields, ``{"repeat": N, "steps": [...]}`` or
    tuples/lists of items (a cycle, as in ``[("Discharge ...", "Rest ...")] * 10``).
    """

    def __init__(self, steps: Iterable, source: str = "experiment"):
        self.source = source
        self.steps: list[Step] = []
        for k, item in enumerate(_as_list(steps), start=1):
            self.steps += _expand(item, f"{source} item {k}")
            if len(self.steps) > MAX_PROTOCOL_STEPS:
                raise ExperimentError(f"{source}: more than {MAX_PROTOCOL_STEPS:,} protocol "
                                      "steps; a run ends after a few thousand time steps")
        if not self.steps:
            raise ExperimentError(f"{source}: no steps")

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __getitem__(self, k: int) -> Step:
        return self.steps[k]

    def __repr__(self) -> str:
        return f"Experiment({[s.describe() for s in self.steps]!r})"

    def as_data(self) -> list[dict]:
        """The steps as plain data (JSON/TOML)."""
        return [s.as_dict() for s in self.steps]

    @classmethod
    def discharge(cls, current_density_mA_cm2: float, cutoff_V: float) -> Experiment:
        """One constant-current discharge down to the cut-off."""
        return cls([Step("discharge", current_mA_cm2=current_density_mA_cm2,
                         until_voltage_V=cutoff_V)])


def load_experiment(path) -> Experiment:
    """An experiment from a TOML file: ``experiment = [...]`` (strings or tables)."""
    import tomllib
    from pathlib import Path

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such experiment file") from None
    except tomllib.TOMLDecodeError as err:
        raise ExperimentError(f"{path}: not valid TOML ({err})") from None
    if "experiment" not in data:
        raise ExperimentError(f"{path}: no 'experiment' list (experiment = [\"Discharge at "
                              "1C until 3.0 V\", ...])")
    return Experiment(data["experiment"], source=str(path))


def _as_list(steps) -> list:
    if isinstance(steps, str | Step | dict):
        return [steps]
    return list(steps)


def _expand(item, where: str) -> list[Step]:
    try:
        if isinstance(item, Step):
            return [item]
        if isinstance(item, str):
            m = _REPEAT.match(" ".join(item.split()))
            if m:
                inner = [s for s in m.group(2).split(";") if s.strip()]
                if not inner:
                    raise ExperimentError(f"'{item}': the repeated cycle has no steps")
                cycle = [parse_step(s) for s in inner]
                return _repeated(cycle, int(m.group(1)), item)
            return [parse_step(item)]
        if isinstance(item, dict):
            if "repeat" in item or "steps" in item:
                unknown = set(item) - {"repeat", "steps"}
                if unknown or not isinstance(item.get("repeat", 1), int) or \
                        item.get("repeat", 1) < 1:
                    raise ExperimentError(f"a repeat is {{repeat = N >= 1, steps = [...]}}, "
                                          f"got {item}")
                cycle = []
                for j, sub in enumerate(_as_list(item.get("steps", [])), start=1):
                    cycle += _expand(sub, f"{where} step {j}")
                return _repeated(cycle, item.get("repeat", 1), f"{where}: repeat")
            known = {f.name for f in fields(Step)}
            unknown = set(item) - known
            if unknown:
                raise ExperimentError(f"unknown step key(s) {sorted(unknown)}; known: "
                                      f"{sorted(known - {'text'})}")
            return [Step(**item)]
        if isinstance(item, tuple | list):
            out = []
            for sub in item:
                out += _expand(sub, where)
            return out
    except ExperimentError as err:
        raise ExperimentError(f"{where}: {err}") from None
    raise ExperimentError(f"{where}: a step is a string, a table or a list, got "
                          f"{type(item).__name__}")


def _repeated(cycle: list[Step], times: int, what: str) -> list[Step]:
    """``cycle`` ``times`` over, refused beyond ``MAX_PROTOCOL_STEPS`` (before allocating)."""
    if len(cycle) * times > MAX_PROTOCOL_STEPS:
        raise ExperimentError(f"'{what}': {times:,} repeats make {len(cycle) * times:,} "
                              f"protocol steps, more than {MAX_PROTOCOL_STEPS:,}")
    return cycle * times
