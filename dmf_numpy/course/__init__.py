"""Teaching material built on the one-page DMF (:mod:`dmf_numpy.core.one_page`): exercises with
equations to fill in (:mod:`.exercises`) and their grader (:mod:`.grader`). Imports only
:mod:`dmf_numpy.core` and :mod:`dmf_numpy.files`."""
