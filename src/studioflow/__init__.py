"""Studioflow: AI image batches, image hosting and the business around them, in one codebase."""

__version__ = "0.1.0"
