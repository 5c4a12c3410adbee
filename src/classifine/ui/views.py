"""The Monitor and Model tabs of the web page (Streamlit; data from the server over HTTP).

Example:
    >>> monitor_tab(client, model)  # inside the running page  # doctest: +SKIP
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from classifine.ui.client import ModelSummary, ServerClient

NA = "n/a"  # not "-": a lone dash in a table cell renders as a Markdown list
_PROMOTION_COLUMNS = (
    "time", "action", "version", "previous_version", "serving", "decision", "metric", "new_score",
    "old_score", "reason", "user",
)  # fmt: skip


def _pct(value: Any) -> str:
    return NA if value is None else f"{float(value):.1%}"


def _num(value: Any) -> str:
    return NA if value is None else f"{float(value):.4f}"


def _headline(section: dict[str, Any]) -> None:
    conf, fb, drift = section["confidence"], section["feedback"], section.get("drift") or {}
    cols = st.columns(5)
    cols[0].metric("Predictions", section["predictions"])
    cols[1].metric("Mean confidence", _pct(conf["mean"]))
    cols[2].metric("Low-confidence share", _pct(conf["low_share"]))
    psi = drift.get("psi")
    shown = NA if psi is None else f"{psi:.3f}"
    cols[3].metric("Label drift (PSI)", shown, drift.get("reading"), delta_color="off", delta_arrow="off")
    judged = f"{fb.get('judged', 0)} judged"
    cols[4].metric(
        "Feedback accuracy", _pct(fb.get("accuracy")), judged, delta_color="off", delta_arrow="off"
    )


def _time_charts(section: dict[str, Any], low: float) -> None:
    over = pd.DataFrame(section["over_time"]["buckets"])
    over["start"] = pd.to_datetime(over["start"])
    minutes = section["over_time"]["bucket_seconds"] // 60
    left, right = st.columns(2)
    left.markdown(f"**Volume** (predictions per {minutes} min)")
    left.bar_chart(over, x="start", y="count", height=220)
    right.markdown(f"**Confidence over time** (mean, and share below {low:g})")
    long = over.melt("start", ["mean_confidence", "low_confidence_share"], "series", "value")
    chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("start:T", title=None),
            y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])),
            color="series:N",
        )
    )
    right.altair_chart(chart.properties(height=220), use_container_width=True)


def _distribution_charts(section: dict[str, Any]) -> None:
    drift = section.get("drift") or {}
    training = drift.get("training_shares") or {}
    served = section["label_shares"]
    names = list(dict.fromkeys([*training, *served]))
    shares = pd.DataFrame(
        {"label": names, "served": [served.get(n, 0.0) for n in names]}
        | ({"training": [training.get(n, 0.0) for n in names]} if training else {})
    )
    hist = section["confidence_histogram"]
    bins = pd.DataFrame(
        {"confidence": [f"{e:.2f}" for e in hist["edges"][:-1]], "predictions": hist["counts"]}
    )
    left, right = st.columns(2)
    left.markdown("**Label drift**: predicted labels vs the training split")
    left.bar_chart(shares, x="label", y=[c for c in shares.columns if c != "label"], stack=False, height=240)
    if drift.get("note"):
        left.caption(drift["note"])
    right.markdown("**Confidence** (top probability of each prediction)")
    right.bar_chart(bins, x="confidence", y="predictions", height=240)


def _feedback(section: dict[str, Any]) -> None:
    fb = section["feedback"]
    st.markdown(
        f"**Feedback accuracy**: {fb.get('confirmed', 0)} confirmed and {fb.get('corrected', 0)} corrected "
        f"of {fb.get('judged', 0)} judged predictions ({fb.get('rows', 0)} feedback rows)."
    )
    corrections = fb.get("corrections_by_label") or {}
    if corrections:
        frame = pd.DataFrame({"corrected to": list(corrections), "count": list(corrections.values())})
        st.bar_chart(frame, x="corrected to", y="count", height=200)


def _review(client: ServerClient, model: ModelSummary) -> None:
    st.subheader("Lowest-confidence recent predictions")
    review = client.lowest_confidence(model.name, limit=8)
    rows = review["predictions"]
    if not review["texts_stored"]:
        st.info("The server does not store texts: serve with --store-texts to read them here.")
    if not rows:
        st.write("Nothing to review: every recent prediction has feedback.")
    for row in rows:
        _review_row(client, model, row)


def _review_row(client: ServerClient, model: ModelSummary, row: dict[str, Any]) -> None:
    label = row["label"] if isinstance(row["label"], str) else ", ".join(row["label"])
    with st.container(border=True, key=f"review-{row['id']}"):
        text, verdict = st.columns([3, 2])
        text.write(row["text"] if row["text"] is not None else "(text not stored)")
        when = datetime.fromtimestamp(row["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        text.caption(f"predicted **{label}** · confidence {row['confidence']:.1%} · {when}")
        if model.multi_label:
            right: Any = verdict.multiselect(
                "Right labels", model.labels, default=row["label"], key=f"rv-{row['id']}"
            )
        else:
            right = verdict.selectbox(
                "Right label", model.labels, index=model.labels.index(label), key=f"rv-{row['id']}"
            )
        if verdict.button("Save", key=f"rs-{row['id']}"):
            result = client.feedback(right, prediction_id=row["id"])
            st.session_state["review_note"] = (
                f"Saved: {'confirmed' if result.kind == 'confirm' else 'corrected'} ({json.dumps(right)})."
            )
            st.rerun()


def monitor_tab(client: ServerClient, model: ModelSummary) -> None:
    """The charts of ``classifine monitor`` and the least confident predictions to review."""
    low = st.slider("Low-confidence threshold", 0.05, 0.95, 0.6, 0.05, key="low_confidence")
    section = client.monitor(model.name, low)
    if section is None:
        st.info("No predictions recorded yet: classify some texts (Predict or Batch) and come back.")
        return
    st.caption(
        f"{section['first']} to {section['last']} · versions: "
        + ", ".join(v["version"] for v in section["versions"])
    )
    _headline(section)
    _time_charts(section, low)
    _distribution_charts(section)
    _feedback(section)
    if "review_note" in st.session_state:
        st.success(st.session_state.pop("review_note"))
    _review(client, model)


def _leaderboard(ev: dict[str, Any]) -> None:
    rows = [
        {
            "": row.get("name"),
            "kind": row.get("kind"),
            "accuracy": _num(row.get("accuracy")),
            "macro-F1": _num(row.get("macro_f1")),
            "micro-F1": _num(row.get("micro_f1")),
            "texts/s": NA if row.get("texts_per_s") is None else f"{row['texts_per_s']:,.0f}",
        }
        for row in ev["leaderboard"]
    ]
    st.table(pd.DataFrame(rows).set_index(""))


def _confusion(ev: dict[str, Any]) -> None:
    cm = ev.get("confusion_matrix")
    if not cm:
        return
    labels = ev["labels"]
    st.markdown("**Confusion matrix** (rows: true label, columns: predicted)")
    frame = pd.DataFrame(cm, index=pd.Index(labels, name="true"), columns=labels)
    st.table(frame.style.background_gradient(cmap="Blues", axis=None))


def _evaluation(ev: dict[str, Any] | None) -> None:
    if ev is None:
        st.info("No test evaluation recorded: run 'classifine evaluate RUN' on the server's run.")
        return
    n = ev["metrics"].get("n")
    split = str(ev["split"])
    where = str(ev["dataset"]) if split.split()[0] in str(ev["dataset"]) else f"{ev['dataset']}, {split}"
    where += ", a subset" if "subset" in split else ""
    st.subheader(f"Test metrics: {where}, {n} texts")
    st.caption("Every row scored on the same texts: the model, the TF-IDF baseline, and LLMs when evaluated.")
    _leaderboard(ev)
    per_class = [
        {"label": name, **{k: _num(s.get(k)) for k in ("precision", "recall", "f1")}}
        | {"support": str(s.get("support")), "TF-IDF F1": _num(s.get("tfidf_f1"))}
        for name, s in ev["per_class"].items()
    ]
    st.markdown("**Per label**")
    st.table(pd.DataFrame(per_class).set_index("label"))
    _confusion(ev)
    for note in ev.get("notes") or []:
        st.caption(note)


def _history(card: dict[str, Any]) -> None:
    st.subheader("Versions and promotions")
    if not card["versions"]:
        st.write("No versions yet: this run has not been retrained, so the run itself serves.")
    else:
        rows = [
            {
                "version": str(v["version"]),
                "serving": "serving" if v["serving"] else "",
                "created": v["created"],
                "test accuracy": _num(v.get("test_accuracy")),
                "test macro-F1": _num(v.get("test_macro_f1")),
            }
            for v in card["versions"]
        ]
        st.table(pd.DataFrame(rows).set_index("version"))
    if card["promotions"]:
        st.markdown("**Promotions log** (oldest first)")
        shown = [k for k in _PROMOTION_COLUMNS if any(p.get(k) is not None for p in card["promotions"])]
        st.table(pd.DataFrame(card["promotions"])[shown].fillna(NA))


def model_tab(client: ServerClient, model: ModelSummary) -> None:
    """The model card: labels, test metrics beside TF-IDF and LLMs, confusion matrix, versions."""
    card = client.card(model.name)
    info = card["model"]
    st.subheader(f"{info['name']} · version {info['version']}")
    st.markdown("**Labels**: " + " ".join(f"`{label}`" for label in info["labels"]))
    train = card["training"]
    st.caption(
        f"{info['problem_type'].replace('_', '-')} · base model {info['base_model']}"
        f" ({train.get('method') or '-'}) · {info['engine']} engine · max length {info['max_length']}"
        f" · validation macro-F1 {_num(card['validation'].get('macro_f1'))}"
    )
    _evaluation(card["evaluation"])
    _history(card)
