"""Home: what dataval does, the one-click demo, and the six steps."""
import streamlit as st

from ui import layout

st.title("dataval — find and fix bad training samples")
st.markdown("Data-valuation methods give every sample a **value**: how much it helps a model do well on a clean "
            "reference set. Mislabeled, duplicated or off-topic samples get the lowest values, so you review "
            "those first, decide what to do with each, and export a cleaned copy.")
layout.demo_card()
st.subheader("How it works")
steps = [
    ("data", "Load a table or an image zip, pick the label and the trusted target set; optionally inject "
             "label noise to see the methods at work."),
    ("valuate", "Run one or more methods in the background (KNN-Shapley, Data-OOB, optimal-transport and "
                "gradient methods); several runs are kept."),
    ("review", "Page through the lowest-valued samples; keep, drop or relabel, one by one or in bulk."),
    ("map", "See the samples on a 2-D map of the features and select suspicious regions."),
    ("compare", "Check where methods agree and, with known noise, how much of it they find."),
    ("export", "Download the cleaned dataset in its original format, the values, the decisions and a report."),
]
labels = {key: (label, icon) for key, _, label, icon, _ in layout.NAV}
for row in range(0, len(steps), 3):  # one st.columns per row, so the cards of a row share a height
    for col, (i, (key, text)) in zip(st.columns(3), enumerate(steps[row:row + 3], start=row)):
        with col.container(border=True, height="stretch"):
            label, icon = labels[key]
            st.page_link(layout.PAGES[key], label=f"{i + 1}. {label}", icon=icon)
            st.caption(text)
