"""Small building blocks shared by colorssl models (no registered modules)."""
from .negative_selection import positive_mask, select_negatives

__all__ = ['positive_mask', 'select_negatives']
