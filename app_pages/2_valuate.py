"""Valuate: pick methods, embeddings and parameters; runs go on in the background."""
import streamlit as st

from dataval_core.backend import backend_classes, get_backend
from dataval_core.embeddings import list_embeddings
from dataval_core.registry import list_valuators
from dataval_core.targets import describe_mode
from dataval_core.workspace import AccessError, WorkspaceError
from ui import actions, consensus_view, forms, layout, progress

layout.page("Valuate",
            "Every valued sample gets a value: **higher = more useful**, the lowest are the ones to inspect. "
            "Runs happen in the background, so you can switch pages meanwhile; every run is kept.")
record, ds = layout.require_dataset()
st.info(describe_mode(ds), icon=":material/fact_check:")

methods = {s.name: s.load() for s in list_valuators()}  # what each method is, from its class
with st.expander("What each method does"):
    st.table({"method": list(methods), "idea": [c.summary for c in methods.values()],
              "what a low value means": [c.low_value for c in methods.values()],
              "reference rows": ["needed" if c.needs_reference else "not needed" for c in methods.values()],
              "cost": [c.cost for c in methods.values()]})
default = ["consensus"] if "consensus" in methods else list(methods)[:1]
chosen = st.multiselect("Methods", list(methods), default=default, key="val_methods",
                        help="Choose one or more; each gets its own run. `random` is the floor to beat.")
embeddings = list_embeddings(ds)
choices = []
for name in chosen:
    cls = methods[name]
    with st.container(border=True):
        st.markdown(f"**{name}** — {cls.summary}")
        if ds.task == "regression" and not cls.supports_regression:
            st.warning(f"{name} supports classification only; this dataset has a numeric target.")
            continue
        options = embeddings if cls.default_embedding in embeddings else [cls.default_embedding] + embeddings
        embedding = st.selectbox("Embedding", options, index=options.index(cls.default_embedding),
                                 key=f"val_{name}_embedding", help=forms.EMBEDDING_HELP)
        params = forms.params_form(cls.Params, f"val_{name}")
        choices.append({"method": name, "embedding": embedding, "params": params})

kinds = {cls.title: cls for cls in backend_classes()}
where = st.radio("Compute on", list(kinds), horizontal=True, key="val_backend",
                 help="sava, knn_shapley, data_oob and the pretrained image embeddings can fan their tasks out "
                      "over a Ray cluster; same values.")
address = None
if kinds[where].takes_address:
    address = st.text_input(f"{where} address", key=f"val_{kinds[where].name}_address", placeholder="host:6379",
                            help=kinds[where].address_help)
backend = get_backend(kinds[where].name, (address or "").strip() or None)
st.caption(f"Runs compute on {backend.describe_target()}.")

c1, c2 = st.columns([1, 5], vertical_alignment="bottom")
seed = c1.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="val_seed",
                       help="Same seed, same values.")
if c2.button("Run", type="primary", icon=":material/play_arrow:", disabled=not choices, key="val_run"):
    try:
        actions.submit_runs(record, ds, choices, int(seed), backend=backend)
        st.rerun()
    except (WorkspaceError, AccessError) as exc:
        st.error(str(exc))

st.subheader("Progress")
progress.runs_monitor(record, layout.PAGES["review"])
st.subheader("Runs")
progress.runs_table(record)
consensus_view.explain_runs(actions.finished_runs(record)[:3])
