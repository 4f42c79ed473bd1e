"""The measures every evaluation runs (test mode, the in-training evaluation, bench/quality.py), in
the order they are printed. A new measure: a metrics.evaluation.Measure subclass, and one line here."""
from metrics.content import Content
from metrics.fidelity import KnownAnswer
from metrics.paired import PairedTranslation
from metrics.retrieval import Retrieval
from metrics.shapes import ShapeMeasures
from metrics.style import Style

MEASURES = (
    Retrieval(),
    KnownAnswer(),
    Style(),
    Content(),
    ShapeMeasures(),
    PairedTranslation(),
)
