"""The paper's experiments: Table 1 and Fig. 4 (:mod:`.table1`), the learning paths of Fig. 2
(:mod:`.path_experiment`), cross-modal inference (:mod:`.reconstruct`), Table 3
(:mod:`.retrieval`), Table 2's protocol (:mod:`.audiovisual`), and the speed benchmark
(:mod:`.bench`). One training run in a folder is :mod:`.train_run`; the paper's own numbers are
in :mod:`.paper`. Built on :mod:`dmf_numpy.training` and :mod:`dmf_numpy.datasets`."""
