"""Publish a run to a Hugging Face Hub repository: the model folder and a generated model card.

Example:
    >>> from classifine.hub import push_run
    >>> push_run("runs/sms-spam-minilm", "acme/sms-spam").url  # doctest: +SKIP
    'https://.../acme/sms-spam'
"""

from classifine.hub.card import model_card
from classifine.hub.push import PushResult, push_run

__all__ = ["PushResult", "model_card", "push_run"]
