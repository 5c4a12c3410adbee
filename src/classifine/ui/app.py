"""The classifine web page (Streamlit), a client of ``classifine serve`` over HTTP only.

``classifine ui --server URL`` runs this script with ``streamlit run``; ``import classifine`` never
imports it (nor Streamlit). Four tabs: Predict, Batch, Monitor, Model. Every failure the user can
act on (server down, wrong key, malformed upload) is shown as a message, never a traceback.

Example:
    $ classifine ui --server http://127.0.0.1:8000 --api-key-env CLASSIFINE_API_KEY
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import pandas as pd
import streamlit as st

from classifine.errors import ClassifineError
from classifine.ui import batch
from classifine.ui.client import Classified, ModelSummary, ServerClient
from classifine.ui.views import model_tab, monitor_tab

logger = logging.getLogger("classifine.ui")
TABS = ("Predict", "Batch", "Monitor", "Model")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="classifine ui")
    parser.add_argument("--server", required=True)
    parser.add_argument("--api-key-env", default=None)
    return parser.parse_args(sys.argv[1:])


def guarded(render: Callable[..., None], *args: Any) -> None:
    """Run one part of the page; errors become messages (unexpected ones are logged, not shown)."""
    try:
        render(*args)
    except ClassifineError as exc:
        st.error(str(exc))
    except Exception as exc:  # a bug must not put a traceback on the page
        logger.exception("the page failed")
        st.error(
            f"Something went wrong ({type(exc).__name__}); the details are in the log of 'classifine ui'."
        )


def _show_label(result: Classified, text: str) -> None:
    pred = result.predictions[0]
    label = pred.label if isinstance(pred.label, str) else ", ".join(pred.label) or "(no label)"
    st.subheader(f"Label: {label}")
    st.caption(f"confidence {pred.confidence:.1%} · model {result.model} version {result.model_version}")
    scores = pd.DataFrame({"label": list(pred.scores), "score": list(pred.scores.values())})
    st.bar_chart(scores, x="label", y="score", horizontal=True, height=max(120, 36 * len(scores)))


def _send_feedback(client: ServerClient, model: ModelSummary, prediction_id: str, label: Any) -> None:
    result = client.feedback(label, prediction_id=prediction_id)
    counts = client.feedback_summary(model.name)
    shown = label if isinstance(label, str) else ", ".join(label)
    what = "Confirmed" if result.kind == "confirm" else "Corrected to"
    st.session_state["feedback_note"] = (
        f"{what} '{shown}' (feedback #{result.feedback_id}). Model {model.name} now has "
        f"{counts['rows']} feedback: {counts['confirmed']} confirmed, {counts['corrected']} corrected."
    )


def _feedback_buttons(client: ServerClient, model: ModelSummary, result: Classified) -> None:
    pred = result.predictions[0]
    key = pred.id
    st.write("Is this right?")
    left, right = st.columns([1, 2])
    if left.button("Confirm", key=f"confirm-{key}", icon=":material/check:"):
        _send_feedback(client, model, pred.id, pred.label)
    if model.multi_label:
        chosen: Any = right.multiselect("Right labels", model.labels, default=pred.label, key=f"fix-{key}")
    else:
        others = [label for label in model.labels if label != pred.label]
        chosen = right.selectbox("Right label", others, key=f"fix-{key}")
    if right.button("Send correction", key=f"correct-{key}"):
        _send_feedback(client, model, pred.id, chosen)


def predict_tab(client: ServerClient, model: ModelSummary) -> None:
    """A text box, its label with a bar chart of the scores, and confirm/correct buttons."""
    text = st.text_area("Text to classify", key="predict_text", height=120)
    if st.button("Classify", type="primary", key="classify"):
        if not text.strip():
            st.warning("Type a text first.")
        else:
            st.session_state["last"] = (model.name, text, client.classify([text], model.name))
            st.session_state.pop("feedback_note", None)
    last = st.session_state.get("last")
    if last is None or last[0] != model.name:
        return
    _, shown_text, result = last
    if shown_text != text:
        st.caption("The result below is for the previous text; press Classify for the new one.")
    _show_label(result, shown_text)
    _feedback_buttons(client, model, result)
    if "feedback_note" in st.session_state:
        st.success(st.session_state["feedback_note"])


def _upload_table(upload: Any) -> pd.DataFrame | None:
    try:
        return batch.read_upload(upload.name, upload.getvalue())
    except ClassifineError as exc:
        st.error(f"Cannot use this file: {exc}")
        return None


def batch_tab(client: ServerClient, model: ModelSummary) -> None:
    """Upload a CSV/JSONL, choose the text column, classify with a progress bar, download."""
    upload = st.file_uploader("A CSV, TSV or JSONL file with a text column", type=list(batch.SUFFIXES))
    if upload is None:
        return
    frame = _upload_table(upload)
    if frame is None:
        return
    columns = list(frame.columns)
    guess = batch.text_column_guess(frame)
    column = st.selectbox("Text column", columns, index=columns.index(guess), key="batch_column")
    st.caption(f"{len(frame)} rows · columns: {', '.join(columns)}")
    st.dataframe(frame.head(5), hide_index=True)
    fmt = st.radio("Download as", ["csv", "jsonl"], horizontal=True, key="batch_format")
    job = (upload.file_id, column, model.name)
    if st.button("Classify all rows", type="primary", key="batch_run"):
        bar = st.progress(0.0, text="Classifying...")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Classified {done} of {total} rows")

        st.session_state["batch"] = (
            job,
            batch.classify_frame(client, frame, column, model.name, on_progress=progress),
        )
    done = st.session_state.get("batch")
    if done is None or done[0] != job:
        return
    out = done[1]
    labelled = int(out["label"].notna().sum())
    st.success(
        f"Classified {labelled} rows"
        + (f" ({len(out) - labelled} empty texts skipped)" if labelled < len(out) else "")
    )
    st.dataframe(out.head(20), hide_index=True)
    stem = PurePath(upload.name).stem
    st.download_button(
        f"Download predictions ({fmt.upper()})",
        data=batch.to_bytes(out, fmt),
        file_name=f"{stem}-predictions.{fmt}",
        mime="text/csv" if fmt == "csv" else "application/x-ndjson",
        key="batch_download",
        on_click="ignore",
    )


def _connect(client: ServerClient) -> list[ModelSummary] | None:
    try:
        return client.models()
    except ClassifineError as exc:
        st.error(str(exc))
        st.button("Try again", key="retry")
        return None


def page(args: argparse.Namespace) -> None:
    """The page: connect, pick a model, render the selected tab."""
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    client = ServerClient(args.server, api_key=key, key_env=args.api_key_env)
    st.title("classifine")
    models = _connect(client)
    if not models:
        return
    names = [m.name for m in models]
    name = st.sidebar.selectbox("Model", names) if len(names) > 1 else names[0]
    model = models[names.index(name)]
    st.caption(
        f"Server {client.url} · model **{model.name}** version {model.version} · {model.engine} engine"
    )
    tabs = st.tabs(list(TABS), key="tab", on_change="rerun", bind="query-params")
    for tab, render in zip(tabs, (predict_tab, batch_tab, monitor_tab, model_tab), strict=True):
        if tab.open:
            with tab:
                guarded(render, client, model)


def main() -> None:
    st.set_page_config(page_title="classifine", layout="wide")
    guarded(page, _args())


if __name__ == "__main__":  # streamlit runs the script as __main__
    main()
