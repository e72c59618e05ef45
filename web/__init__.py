"""The face of the project: the web chat (Gradio), its HTML, and the HTTP API.

Everything that speaks HTML or HTTP lives here, apart from ``qa`` (which only
answers questions) and ``ingest`` (which only indexes). Both faces call the
same ``qa.stream``/``ingest.add`` and share one limit on questions in flight
(:mod:`web.service`).

* :mod:`web.render`: safe HTML for answers, evidence and the side panel.
* :mod:`web.chat`: the Gradio page and its named API endpoints.
* :mod:`web.api`: OpenAI-compatible ``/v1`` and the ``/api`` JSON routes;
  ``python -m web.api`` serves it without the chat.
* :mod:`web.guard`: trusted hosts, same-origin writes, login throttling, temp pruning.
* :mod:`web.server`: both on one port (what ``python app.py`` runs).
"""
