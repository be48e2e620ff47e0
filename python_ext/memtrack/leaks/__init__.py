"""What the namespace keeps alive: where values live (:mod:`.roots`), the leak suspects after
each cell (:mod:`.detector`, which composes one watcher per way notebooks leak: :mod:`.names`,
:mod:`.output`, :mod:`.last_traceback`, :mod:`.deletions`, :mod:`.garbage`; suspect dicts in
:mod:`.suspects`, settings in :mod:`.config`), why a value is alive (:mod:`.why_alive`) and
releasing what IPython keeps (:mod:`.release`). No comm; IPython objects come in as
:class:`.roots.Roots`."""
