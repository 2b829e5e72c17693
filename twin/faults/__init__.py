"""Faults and recovery: what can go wrong on lab day, injected on purpose (``plan``) and handled (``recovery``).

``plan`` holds the fault plan model, the typed injected errors and the injector that fires them; ``recovery``
wraps instrument front ends with the retry/skip policies. The names below are the package's public face.
"""

from twin.faults.plan import (Fault, FaultInjector, FaultKind, FaultPlan, FaultPlanError, FaultPolicy, EventLog,
                              InjectedFault, SimulatedCrash, TipPickupError, check_fault_wells, classify)

__all__ = ["EventLog", "Fault", "FaultInjector", "FaultKind", "FaultPlan", "FaultPlanError", "FaultPolicy",
           "InjectedFault", "SimulatedCrash", "TipPickupError", "check_fault_wells", "classify"]
