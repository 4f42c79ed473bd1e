"""Measures of a trained model: codes of a split, cross-domain retrieval, translation fidelity."""
