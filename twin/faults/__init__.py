"""Faults and recovery: what can go wrong on lab day, injected on purpose (``plan``) and handled (``recovery``).

``plan`` holds the fault plan model and the typed injected errors, ``injector`` fires them; ``recovery``
wraps instrument front ends with the retry/skip policies. The names below are the package's public face.
"""

from twin.faults.injector import EventLog, FaultInjector
from twin.faults.plan import (Fault, FaultKind, FaultPlan, FaultPlanError, FaultPolicy, InjectedFault, SimulatedCrash,
                              TipPickupError, check_fault_wells, classify)

__all__ = ["EventLog", "Fault", "FaultInjector", "FaultKind", "FaultPlan", "FaultPlanError", "FaultPolicy",
           "InjectedFault", "SimulatedCrash", "TipPickupError", "check_fault_wells", "classify"]
