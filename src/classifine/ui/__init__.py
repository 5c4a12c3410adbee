"""The web page: a Streamlit client of ``classifine serve`` (``classifine ui --server URL``).

``client`` (typed HTTP calls) and ``batch`` (upload files) need no Streamlit; ``app`` and ``views``
are the page itself, run by Streamlit only. Importing this package imports neither.
"""
