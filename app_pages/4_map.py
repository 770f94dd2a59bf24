"""Map: a 2-D picture of the embedding; select a region to review those samples."""
import streamlit as st

from dataval_core.curation import review_table
from dataval_core.progress import RunState
from ui import grid, layout, mapview, progress, review, reviewstate, state

layout.page("Map",
            "Each dot is a valued sample, placed by a 2-D UMAP of the features the run used (PCA above "
            f"{mapview.UMAP_MAX_POINTS:,} points). Mislabeled samples often sit inside another class's cluster. "
            "Drag a box or lasso to pick samples, then open them in Review.")
record, ds = layout.require_dataset()
runs = list(layout.require_runs(record).values())
by_id = {r.run_id: r for r in runs}

c1, c2, c3 = st.columns([2.6, 1.6, 2.4])
# the run Review shows (one key for both pages): "Open in Review" then opens the run this map draws
st.session_state["map_run"] = reviewstate.selected_run(by_id, default=review.best_run(runs).run_id)
run = by_id[c1.selectbox("Run", list(by_id), key="map_run", format_func=lambda i: by_id[i].label,
                         on_change=reviewstate.on_run_change, args=("map_run",),
                         help="Gives the values and the embedding. Review shows the same run.")]
reviewstate.select_run(run.run_id)
method = mapview.LAYOUTS[c2.segmented_control(
    "Layout", list(mapview.LAYOUTS), default="UMAP", required=True, key="map_layout",
    help=f"UMAP keeps neighbours together (clusters show; PCA above {mapview.UMAP_MAX_POINTS:,} points). PCA is a "
         "straight projection: instant, but classes overlap more.")]
options = [c for c in mapview.COLOR_BY if c != "Injected noise" or ds.noisy is not None]
color = c3.segmented_control("Colour by", options, default="Value", required=True, key="map_color")
job = mapview.job_id(record, run, method)
preview = mapview.job_id(record, run, "pca")  # drawn at once while UMAP runs
if state.jobs().snapshot(job) is None:
    st.caption("The map is computed once per embedding and cached on disk. PCA shows at once; UMAP replaces it "
               "when done, with a progress bar (measured on 2 cores: about 8 s of CPU for 5,000 points and about a "
               "minute for 50,000; a busy machine stretches both). UMAP's code compiles in the background when "
               "the server starts (about 20 s of CPU); a map requested before that waits for it.")
    if st.button("Draw the map", type="primary", icon=":material/scatter_plot:", key="map_draw"):
        if method != "pca" and state.jobs().snapshot(preview) is None:
            state.jobs().submit_task(preview, mapview.map_task(ds, run, "pca"))
        state.jobs().submit_task(job, mapview.map_task(ds, run, method))
        st.rerun()
result = progress.task_result(job, "UMAP map" if method != "pca" else "Map")
umap_job, pca_job = state.jobs().snapshot(job), state.jobs().snapshot(preview)
if result is None and method != "pca" and umap_job is not None and not umap_job.finished:
    if pca_job is not None and pca_job.status == RunState.DONE:
        result = state.jobs().result(preview)
        st.caption("Showing PCA until UMAP is done.")
if result is not None:
    frame = mapview.plot_frame(result.frame, review_table(ds, review.result(run),
                                                          state.workspace().decisions(record.key)))
    view, clipped = mapview.robust_view(frame)
    lo, hi = mapview.VIEW_QUANTILES
    st.caption(f"{result.note} · {len(result.frame):,} points · "
               f"{'from cache' if result.from_cache else f'computed in {result.seconds:.1f} s'}"
               + (f" · {clipped:,} outlying points drawn on the view's edge (each axis spans its {lo:.0%}–{hi:.0%} "
                  f"quantiles plus {mapview.VIEW_MARGIN:.0%} of that width on each side)" if clipped else ""))
    event = st.plotly_chart(mapview.figure(view, color), on_select="rerun", selection_mode=("box", "lasso"),
                            key=f"map_chart_{run.run_id}_{result.method_used}")
    picked = mapview.selected_ids(event, frame)
    if not picked:
        st.caption("Drag on the map to lasso samples (or pick the box tool in the chart's toolbar); hover a dot "
                   "for its label, percentile (0 = lowest value of the run) and value. "
                   "Double-click clears the selection.")
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
            st.dataframe(frame.set_index("id").loc[picked, ["label", "value", "rank", "decision"]].reset_index(),
                         hide_index=True)
