"""Reader procedures as data (``model``) and the runner that executes one on the lab's clock (``runner``)."""

from twin.procedure.model import (AbsorbanceEndpoint, AbsorbanceSpectrum, Delay, Kinetic, PLSpectrum, Procedure,
                                  load_procedure, procedure_from_schedule)

__all__ = ["AbsorbanceEndpoint", "AbsorbanceSpectrum", "Delay", "Kinetic", "PLSpectrum", "Procedure",
           "load_procedure", "procedure_from_schedule"]
