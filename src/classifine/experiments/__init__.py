"""Comparisons across labellers: fine-tuned models, TF-IDF and zero/few-shot LLMs on one split."""
