"""The names the command line lists for studies: sweep parameters and optimisation strategies.

Plain constants, no imports: ``larp-twin`` builds every sub-command's parser (their ``--help`` names these) on
each call, and importing ``twin.studies.spec`` or ``twin.studies.optimize`` for them would load pandas, pydantic and
the chemistry before ``larp-twin run`` could start its figure worker. ``spec`` and ``strategies`` take them from here.
"""

#: well parameters a sweep may vary, with the value used when a spec leaves them out
DEFAULTS = {"antisolvent": "toluene", "pair": "OAc:OLAm", "amine_per_acid": 1.0, "acid_per_pbbr2": 30.0,
            "pbbr2_uL": 15.0, "antisolvent_uL": 150.0, "cs_uL": 100.0}
PARAMETERS = tuple(DEFAULTS)
#: search strategies of the closed loop (``twin.studies.strategies.make_strategy``), and accepted aliases
STRATEGIES = ("tpe", "bo", "random", "grid")
_ALIASES = {"optuna": "tpe", "bayes": "bo"}
