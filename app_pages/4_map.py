"""Map: a 2-D picture of the embedding; select a region to review those samples."""
import streamlit as st

from ui import grid, layout, mapview, progress, review, state

layout.page("Map",
            "Each dot is a valued sample, placed by a 2-D UMAP of the features the run used (PCA above 20,000 "
            "points). Mislabeled samples often sit inside another class's cluster. Drag a box or lasso to pick "
            "samples, then open them in Review.")
record, ds = layout.require_dataset()
by_label = layout.require_runs(record)

c1, c2, c3 = st.columns([2.6, 1.6, 2.4])
run = by_label[c1.selectbox("Run", list(by_label), key="map_run", help="Gives the values and the embedding.")]
method = mapview.LAYOUTS[c2.segmented_control(
    "Layout", list(mapview.LAYOUTS), default="UMAP", required=True, key="map_layout",
    help="UMAP keeps neighbours together (clusters show; PCA above 20,000 points). PCA is a straight "
         "projection: instant, but classes overlap more.")]
options = [c for c in mapview.COLOR_BY if c != "Injected noise" or ds.noisy is not None]
color = c3.segmented_control("Colour by", options, default="Value", required=True, key="map_color")
job = mapview.job_id(record, run, method)
if state.jobs().snapshot(job) is None:
    st.caption("The map is computed once per embedding and cached on disk. The first UMAP map in a server "
               "process takes about a minute longer while UMAP compiles.")
    if st.button("Draw the map", type="primary", icon=":material/scatter_plot:", key="map_draw"):
        state.jobs().submit_task(job, mapview.map_task(ds, run, method))
        st.rerun()
result = progress.task_result(job, "Map")
if result is not None:
    st.caption(f"{result.note} · {len(result.frame):,} points · "
               f"{'from cache' if result.from_cache else f'computed in {result.seconds:.1f} s'}")
    frame = mapview.plot_frame(result.frame, review.review_frame(ds, review.result(run),
                                                                 state.workspace().decisions(record.key)))
    event = st.plotly_chart(mapview.figure(frame, color), on_select="rerun", selection_mode=("box", "lasso"),
                            key=f"map_chart_{run.run_id}")
    picked = mapview.selected_ids(event, frame)
    if not picked:
        st.caption("Drag on the map to lasso samples (or pick the box tool in the chart's toolbar); hover a dot "
                   "for its label and value. Double-click clears the selection.")
    else:
        with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
            st.markdown(f"**{len(picked):,} samples selected.**", width="content")
            to_review = st.button("Open in Review", type="primary", icon=":material/grid_view:", key="map_to_review")
        if to_review:
            st.session_state["review_ids"] = picked
            st.switch_page(layout.PAGES["review"])
        if ds.modality == "image":
            paths = grid.image_paths(ds)
            with st.container(horizontal=True, gap="small", key="map_picked"):
                for sid in picked[:24]:
                    st.image(grid.thumbnail(paths[sid]), caption=sid, width=72)
            if len(picked) > 24:
                st.caption(f"The first 24 of {len(picked):,} shown; open them in Review to see all.")
        else:
            st.dataframe(frame[frame["id"].isin(picked)][["id", "label", "value", "rank", "decision"]],
                         hide_index=True)
