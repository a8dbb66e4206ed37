"""labelleak: can an attacker tell which class was unlearned from an image classifier?

Reproduces and extends the label-leakage attacks of Zheng et al. (arXiv 2604.07386, 2026).
See ``labelleak --help`` and the README for the command line; the library API is organised as
``labelleak.data``, ``labelleak.models``, ``labelleak.unlearning``, ``labelleak.access``,
``labelleak.attacks``, ``labelleak.experiments`` and ``labelleak.report``.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


class LabelleakError(Exception):
    """Base class of every error labelleak raises on bad input; the CLI prints it as one line."""
