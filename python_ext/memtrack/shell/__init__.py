"""The IPython and comm side: the tracker and its hooks (:mod:`.tracker`), the magics
(:mod:`.magics`), the comm bridge (:mod:`.bridge`, the only ``comm`` import) and the
``memtrack.widget()`` view (:mod:`.widget`, imported only when a widget is made)."""
