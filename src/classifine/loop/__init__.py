"""Closing the loop: versions of a run, retraining on new labels, and promotion of the better model.

:mod:`classifine.loop.versions` is the on-disk format (versions side by side, the promotions log)
and the one resolver of which version serves.
"""
