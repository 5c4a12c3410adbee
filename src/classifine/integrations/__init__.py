"""Labelling tools classifine works with: Label Studio (ML backend, pre-labelling) and Argilla records."""
