"""What the namespace keeps alive: where values live (:mod:`.roots`), the leak suspects after
each cell (:mod:`.detector`), why a value is alive (:mod:`.why_alive`) and releasing what IPython
keeps (:mod:`.release`). No comm; IPython objects come in as :class:`.roots.Roots`."""
